//! `tern_runtime::fs` on real files in a fresh temporary directory per test,
//! on every runtime flavour.

mod common;

use std::collections::BTreeSet;
use std::future::Future;
use std::io::{ErrorKind, SeekFrom};
use std::path::PathBuf;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll};

use common::*;
use futures::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tern_runtime::fs::{self, File, OpenOptions};
use tern_runtime::Runtime;

/// A directory under `std::env::temp_dir()` removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, SeqCst);
        let path = std::env::temp_dir().join(format!("tern-fs-test-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// xorshift64*: deterministic pseudo-random bytes and numbers.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(len + 8);
        while v.len() < len {
            v.extend_from_slice(&self.next().to_le_bytes());
        }
        v.truncate(len);
        v
    }
}

/// Polls `fut` exactly once with a no-op waker and drops it; its output if ready.
fn poll_once_and_drop<F: Future>(fut: F) -> Option<F::Output> {
    let mut fut = pin!(fut);
    let waker = futures::task::noop_waker();
    match fut.as_mut().poll(&mut Context::from_waker(&waker)) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

#[test]
fn write_then_read_back_several_mib() {
    each(ALL, |rt, flavor| {
        rt.block_on(async move {
            let dir = TempDir::new("roundtrip");
            let path = dir.join("data.bin");
            let data = Arc::new(Rng::new(7).bytes(5 * 1024 * 1024 + 123));

            let mut file = File::create(&path).await.unwrap();
            // Uneven chunks, so writes straddle the 64 KiB buffer size.
            for chunk in data.chunks(100_003) {
                file.write_all(chunk).await.unwrap();
            }
            file.flush().await.unwrap();
            assert_eq!(file.metadata().await.unwrap().len(), data.len() as u64, "{flavor:?}");
            file.close().await.unwrap();

            let mut back = Vec::new();
            let mut file = File::open(&path).await.unwrap();
            file.read_to_end(&mut back).await.unwrap();
            assert!(back == *data, "File read differs from what was written ({flavor:?})");
            assert!(fs::read(&path).await.unwrap() == *data, "fs::read differs ({flavor:?})");

            // fs::write + a File reading in small pieces.
            let path2 = dir.join("data2.bin");
            fs::write(&path2, &data[..1_000_000]).await.unwrap();
            let mut file = File::open(&path2).await.unwrap();
            let mut back = Vec::new();
            let mut piece = [0u8; 4099];
            loop {
                let n = file.read(&mut piece).await.unwrap();
                if n == 0 {
                    break;
                }
                back.extend_from_slice(&piece[..n]);
            }
            assert!(back == data[..1_000_000]);
        })
    });
}

#[test]
fn read_to_string_rejects_invalid_utf8() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let dir = TempDir::new("utf8");
            let good = dir.join("good.txt");
            let bad = dir.join("bad.txt");
            fs::write(&good, "héllo wörld").await.unwrap();
            fs::write(&bad, [b'o', b'k', 0xff, 0xfe, b'!']).await.unwrap();
            assert_eq!(fs::read_to_string(&good).await.unwrap(), "héllo wörld");
            let err = fs::read_to_string(&bad).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidData);
            // Through a File and futures' AsyncReadExt as well.
            let mut s = String::new();
            let err = File::open(&bad).await.unwrap().read_to_string(&mut s).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidData);
        })
    });
}

#[test]
fn seek_and_read_exact_ranges() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let dir = TempDir::new("seek");
            let path = dir.join("ranges.bin");
            let data = Rng::new(11).bytes(1 << 20);
            fs::write(&path, &data).await.unwrap();
            let len = data.len() as u64;

            let mut file = File::open(&path).await.unwrap();
            let mut rng = Rng::new(3);
            let mut pos = 0u64;
            for _ in 0..200 {
                let target = rng.below(len);
                let got = match rng.below(3) {
                    0 => file.seek(SeekFrom::Start(target)).await.unwrap(),
                    1 => file.seek(SeekFrom::Current(target as i64 - pos as i64)).await.unwrap(),
                    _ => file.seek(SeekFrom::End(target as i64 - len as i64)).await.unwrap(),
                };
                assert_eq!(got, target);
                let want = rng.below((len - target).min(200_000)) as usize;
                let mut buf = vec![0u8; want];
                file.read_exact(&mut buf).await.unwrap();
                assert!(buf[..] == data[target as usize..target as usize + want], "range at {target}+{want}");
                pos = target + want as u64;
                assert_eq!(file.stream_position().await.unwrap(), pos);
            }

            // A short read leaves unread bytes buffered: `Current` counts from
            // what the caller consumed, not from where the OS file offset is.
            file.seek(SeekFrom::Start(1000)).await.unwrap();
            let mut small = [0u8; 10];
            file.read_exact(&mut small).await.unwrap();
            assert_eq!(file.seek(SeekFrom::Current(-5)).await.unwrap(), 1005);
            file.read_exact(&mut small).await.unwrap();
            assert_eq!(small[..], data[1005..1015]);

            // Past the end: reads give 0 bytes; before the start: an error.
            assert_eq!(file.seek(SeekFrom::End(10)).await.unwrap(), len + 10);
            assert_eq!(file.read(&mut small).await.unwrap(), 0);
            assert!(file.seek(SeekFrom::Current(-(len as i64) - 100)).await.is_err());
            assert_eq!(file.seek(SeekFrom::End(-3)).await.unwrap(), len - 3);
            let mut tail = Vec::new();
            file.read_to_end(&mut tail).await.unwrap();
            assert_eq!(tail, data[data.len() - 3..]);
        })
    });
}

/// Random writes, seeks, reads (some abandoned mid-flight) on a read-write
/// file, checked against an in-memory model.
#[test]
fn interleaved_write_seek_read_matches_model() {
    each(ALL, |rt, flavor| {
        rt.block_on(async move {
            let dir = TempDir::new("model");
            let path = dir.join("model.bin");
            let mut file =
                File::options().read(true).write(true).create(true).truncate(true).open(&path).await.unwrap();
            let mut rng = Rng::new(99);
            let mut model: Vec<u8> = Vec::new();
            let mut pos = 0usize;
            for step in 0..300 {
                match rng.below(6) {
                    0 | 1 => {
                        let len = rng.below(150_000) as usize;
                        let bytes = rng.bytes(len);
                        file.write_all(&bytes).await.unwrap();
                        let end = pos + bytes.len();
                        if model.len() < end {
                            model.resize(end, 0);
                        }
                        model[pos..end].copy_from_slice(&bytes);
                        pos = end;
                    }
                    2 => {
                        let target = rng.below(model.len() as u64 + 1) as usize;
                        let got = match rng.below(3) {
                            0 => file.seek(SeekFrom::Start(target as u64)).await.unwrap(),
                            1 => file.seek(SeekFrom::Current(target as i64 - pos as i64)).await.unwrap(),
                            _ => file.seek(SeekFrom::End(target as i64 - model.len() as i64)).await.unwrap(),
                        };
                        assert_eq!(got as usize, target, "step {step}");
                        pos = target;
                    }
                    3 | 4 => {
                        let want = (rng.below(100_000) as usize).min(model.len() - pos);
                        let mut buf = vec![0u8; want];
                        file.read_exact(&mut buf).await.unwrap();
                        assert!(buf[..] == model[pos..pos + want], "step {step}: read differs ({flavor:?})");
                        pos += want;
                    }
                    _ => {
                        // A read abandoned after one poll: its bytes stay buffered.
                        let mut buf = vec![0u8; 1 + rng.below(70_000) as usize];
                        if let Some(n) = poll_once_and_drop(file.read(&mut buf)) {
                            let n = n.unwrap();
                            assert!(buf[..n] == model[pos..pos + n], "step {step}");
                            pos += n;
                        }
                    }
                }
                if step % 50 == 0 {
                    file.flush().await.unwrap();
                    assert_eq!(file.stream_position().await.unwrap() as usize, pos);
                }
            }
            file.flush().await.unwrap();
            assert_eq!(file.metadata().await.unwrap().len() as usize, model.len());
            assert!(fs::read(&path).await.unwrap() == model, "file contents differ from model ({flavor:?})");
        })
    });
}

#[test]
fn append_mode_writes_at_the_end() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let dir = TempDir::new("append");
            let path = dir.join("log.txt");
            fs::write(&path, "first\n").await.unwrap();
            let mut file = OpenOptions::new().append(true).open(&path).await.unwrap();
            file.write_all(b"second\n").await.unwrap();
            file.write_all(b"third\n").await.unwrap();
            file.flush().await.unwrap();
            drop(file);
            let mut file = File::options().append(true).read(true).open(&path).await.unwrap();
            // Even after seeking to the start, appends go to the end.
            file.seek(SeekFrom::Start(0)).await.unwrap();
            let mut first = [0u8; 6];
            file.read_exact(&mut first).await.unwrap();
            assert_eq!(&first, b"first\n");
            file.write_all(b"fourth\n").await.unwrap();
            file.close().await.unwrap();
            assert_eq!(fs::read_to_string(&path).await.unwrap(), "first\nsecond\nthird\nfourth\n");
        })
    });
}

#[test]
fn flush_then_metadata_len_is_what_was_written() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let dir = TempDir::new("flushlen");
            let path = dir.join("f.bin");
            let mut file = File::create(&path).await.unwrap();
            let mut total = 0u64;
            let mut rng = Rng::new(5);
            for _ in 0..20 {
                let len = rng.below(200_000) as usize;
                let chunk = rng.bytes(len);
                file.write_all(&chunk).await.unwrap();
                total += chunk.len() as u64;
                file.flush().await.unwrap();
                assert_eq!(file.metadata().await.unwrap().len(), total);
            }
            file.sync_all().await.unwrap();
            file.sync_data().await.unwrap();
            assert_eq!(fs::metadata(&path).await.unwrap().len(), total);
        })
    });
}

#[test]
fn write_error_surfaces_on_flush_and_next_write() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let dir = TempDir::new("writeerr");
            let path = dir.join("ro.txt");
            fs::write(&path, "read only").await.unwrap();

            // The write is accepted into the buffer; its failure comes with flush.
            let mut file = File::open(&path).await.unwrap();
            assert_eq!(file.write(b"nope").await.unwrap(), 4);
            assert!(file.flush().await.is_err(), "flush must report the failed write");
            // Reported once: the next flush has nothing pending.
            file.flush().await.unwrap();

            // Or with the next write.
            assert_eq!(file.write(b"nope").await.unwrap(), 4);
            let second = file.write(b"again").await;
            let flushed = file.flush().await;
            assert!(second.is_err() || flushed.is_err());

            // write_all + close on a read-only file fails somewhere.
            let mut file = File::open(&path).await.unwrap();
            let res = async {
                file.write_all(&[1u8; 300_000]).await?;
                file.close().await
            }
            .await;
            assert!(res.is_err());

            // sync_all reports an unreported write error too.
            let mut file = File::open(&path).await.unwrap();
            assert_eq!(file.write(b"x").await.unwrap(), 1);
            assert!(file.sync_all().await.is_err());
            assert_eq!(fs::read_to_string(&path).await.unwrap(), "read only");
        })
    });
}

#[test]
fn not_found_and_already_exists_kinds() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let dir = TempDir::new("notfound");
            let missing = dir.join("missing");
            let other = dir.join("other");
            assert_eq!(fs::read(&missing).await.unwrap_err().kind(), ErrorKind::NotFound);
            assert_eq!(fs::read_to_string(&missing).await.unwrap_err().kind(), ErrorKind::NotFound);
            assert_eq!(File::open(&missing).await.unwrap_err().kind(), ErrorKind::NotFound);
            assert_eq!(fs::metadata(&missing).await.unwrap_err().kind(), ErrorKind::NotFound);
            assert_eq!(fs::symlink_metadata(&missing).await.unwrap_err().kind(), ErrorKind::NotFound);
            assert_eq!(fs::remove_file(&missing).await.unwrap_err().kind(), ErrorKind::NotFound);
            assert_eq!(fs::remove_dir(&missing).await.unwrap_err().kind(), ErrorKind::NotFound);
            assert_eq!(fs::read_dir(&missing).await.unwrap_err().kind(), ErrorKind::NotFound);
            assert_eq!(fs::rename(&missing, &other).await.unwrap_err().kind(), ErrorKind::NotFound);
            assert_eq!(fs::copy(&missing, &other).await.unwrap_err().kind(), ErrorKind::NotFound);
            assert_eq!(fs::canonicalize(&missing).await.unwrap_err().kind(), ErrorKind::NotFound);
            assert_eq!(fs::read_link(&missing).await.unwrap_err().kind(), ErrorKind::NotFound);
            assert!(!fs::try_exists(&missing).await.unwrap());
            assert_eq!(
                OpenOptions::new().write(true).open(&missing).await.unwrap_err().kind(),
                ErrorKind::NotFound
            );

            fs::write(&other, "x").await.unwrap();
            assert_eq!(File::create_new(&other).await.unwrap_err().kind(), ErrorKind::AlreadyExists);
            assert_eq!(fs::create_dir(&dir.0).await.unwrap_err().kind(), ErrorKind::AlreadyExists);
            fs::create_dir_all(&dir.0).await.unwrap();
        })
    });
}

#[test]
fn read_dir_lists_exactly_the_created_entries() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let dir = TempDir::new("readdir");
            let mut expected = BTreeSet::new();
            // More than one 32-entry batch.
            for i in 0..75 {
                let name = format!("file-{i:03}");
                fs::write(dir.join(&name), i.to_string()).await.unwrap();
                expected.insert(name);
            }
            for name in ["sub-a", "sub-b"] {
                fs::create_dir(dir.join(name)).await.unwrap();
                expected.insert(name.to_string());
            }
            fs::write(dir.join("sub-a").join("nested"), "not listed").await.unwrap();

            let mut listing = fs::read_dir(&dir.0).await.unwrap();
            let mut seen = BTreeSet::new();
            let mut dirs = 0;
            while let Some(entry) = listing.next_entry().await.unwrap() {
                let name = entry.file_name().into_string().unwrap();
                assert_eq!(entry.path(), dir.join(&name));
                let ty = entry.file_type().await.unwrap();
                assert_eq!(ty.is_dir(), name.starts_with("sub-"), "{name}");
                if ty.is_dir() {
                    dirs += 1;
                } else {
                    let md = entry.metadata().await.unwrap();
                    assert_eq!(md.len(), name[5..].trim_start_matches('0').len().max(1) as u64);
                }
                assert!(seen.insert(name), "listed twice");
            }
            assert_eq!(seen, expected);
            assert_eq!(dirs, 2);
            // The end is sticky.
            assert!(listing.next_entry().await.unwrap().is_none());

            // A next_entry future dropped mid-batch loses nothing.
            let mut listing = fs::read_dir(&dir.0).await.unwrap();
            let mut seen = BTreeSet::new();
            if let Some(first) = poll_once_and_drop(listing.next_entry()) {
                if let Some(e) = first.unwrap() {
                    seen.insert(e.file_name().into_string().unwrap());
                }
            }
            while let Some(entry) = listing.next_entry().await.unwrap() {
                assert!(seen.insert(entry.file_name().into_string().unwrap()));
            }
            assert_eq!(seen, expected);

            // Listing a file is an error.
            assert!(fs::read_dir(dir.join("file-000")).await.is_err());
        })
    });
}

#[test]
fn copy_rename_remove_and_links() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let dir = TempDir::new("ops");
            let a = dir.join("a.bin");
            let b = dir.join("b.bin");
            let c = dir.join("c.bin");
            let data = Rng::new(42).bytes(300_001);
            fs::write(&a, &data).await.unwrap();

            // copy: same bytes, returns the length, replaces the target.
            fs::write(&b, "old contents").await.unwrap();
            assert_eq!(fs::copy(&a, &b).await.unwrap(), data.len() as u64);
            assert_eq!(fs::read(&b).await.unwrap(), data);
            assert!(fs::try_exists(&a).await.unwrap());

            // rename: the source disappears, the target is replaced.
            fs::write(&c, "to be replaced").await.unwrap();
            fs::rename(&b, &c).await.unwrap();
            assert!(!fs::try_exists(&b).await.unwrap());
            assert_eq!(fs::read(&c).await.unwrap(), data);

            // remove_file / remove_dir / remove_dir_all.
            fs::remove_file(&c).await.unwrap();
            assert!(!fs::try_exists(&c).await.unwrap());
            let nested = dir.join("x").join("y").join("z");
            fs::create_dir_all(&nested).await.unwrap();
            fs::write(nested.join("f"), "f").await.unwrap();
            assert!(fs::metadata(&nested).await.unwrap().is_dir());
            assert!(fs::remove_dir(dir.join("x")).await.is_err(), "not empty");
            fs::remove_dir_all(dir.join("x")).await.unwrap();
            assert!(!fs::try_exists(dir.join("x")).await.unwrap());
            fs::create_dir(dir.join("empty")).await.unwrap();
            fs::remove_dir(dir.join("empty")).await.unwrap();

            // hard_link shares contents.
            let h = dir.join("hard");
            fs::hard_link(&a, &h).await.unwrap();
            assert_eq!(fs::read(&h).await.unwrap(), data);

            // canonicalize resolves `..`.
            let round = dir.0.join("..").join(dir.0.file_name().unwrap()).join("a.bin");
            assert_eq!(fs::canonicalize(&round).await.unwrap(), std::fs::canonicalize(&a).unwrap());

            // permissions, through the path and through a File.
            let original = fs::metadata(&a).await.unwrap().permissions();
            let mut perm = original.clone();
            perm.set_readonly(true);
            fs::set_permissions(&a, perm).await.unwrap();
            assert!(fs::metadata(&a).await.unwrap().permissions().readonly());
            File::open(&a).await.unwrap().set_permissions(original).await.unwrap();
            assert!(!fs::metadata(&a).await.unwrap().permissions().readonly());

            #[cfg(unix)]
            {
                let link = dir.join("link");
                fs::symlink(&a, &link).await.unwrap();
                assert_eq!(fs::read_link(&link).await.unwrap(), a);
                assert!(fs::symlink_metadata(&link).await.unwrap().file_type().is_symlink());
                assert!(fs::metadata(&link).await.unwrap().is_file());
                fs::remove_file(&a).await.unwrap();
                assert!(!fs::try_exists(&link).await.unwrap(), "dangling link");
                assert_eq!(fs::read(&h).await.unwrap(), data, "hard link keeps the data");
            }
        })
    });
}

#[test]
fn dropped_read_future_does_not_lose_data() {
    each(ALL, |rt, flavor| {
        rt.block_on(async move {
            let dir = TempDir::new("dropread");
            let path = dir.join("d.bin");
            let data = Rng::new(8).bytes(2 * 1024 * 1024);
            fs::write(&path, &data).await.unwrap();

            // Polled once by hand, then dropped: the job finishes on the pool and
            // the next read returns its bytes, in order.
            let mut file = File::open(&path).await.unwrap();
            let mut buf = [0u8; 1000];
            let mut back = Vec::new();
            // (Usually pending; on a fast pool it may already be done.)
            if let Some(n) = poll_once_and_drop(file.read(&mut buf)) {
                back.extend_from_slice(&buf[..n.unwrap()]);
            }
            file.read_to_end(&mut back).await.unwrap();
            assert!(back == data, "bytes lost or reordered after a dropped read ({flavor:?})");

            // Raced against an immediately-ready future, many times, mixed with
            // reads that complete.
            let mut file = File::open(&path).await.unwrap();
            let mut back = Vec::new();
            let mut rng = Rng::new(1);
            let mut chunk = vec![0u8; 100_000];
            loop {
                let want = 1 + rng.below(chunk.len() as u64) as usize;
                let read = file.read(&mut chunk[..want]);
                match futures::future::select(read, futures::future::ready(())).await {
                    futures::future::Either::Left((n, _)) => {
                        let n = n.unwrap();
                        back.extend_from_slice(&chunk[..n]);
                    }
                    futures::future::Either::Right(((), read)) => drop(read),
                }
                let n = file.read(&mut chunk[..want]).await.unwrap();
                if n == 0 {
                    break;
                }
                back.extend_from_slice(&chunk[..n]);
            }
            assert!(back == data, "select-dropped reads lost data ({flavor:?})");

            // into_std after a dropped read: positioned at what was consumed.
            let mut file = File::open(&path).await.unwrap();
            let mut ten = [0u8; 10];
            file.read_exact(&mut ten).await.unwrap();
            let consumed = 10 + poll_once_and_drop(file.read(&mut buf)).map_or(0, |n| n.unwrap());
            let mut std_file = file.into_std().await;
            use std::io::{Read, Seek};
            assert_eq!(std_file.stream_position().unwrap(), consumed as u64);
            let mut next = [0u8; 10];
            std_file.read_exact(&mut next).unwrap();
            assert_eq!(next[..], data[consumed..consumed + 10]);

            // A dropped `End` seek, then the same seek again.
            let mut file = File::open(&path).await.unwrap();
            let _ = poll_once_and_drop(file.seek(SeekFrom::End(-4)));
            assert_eq!(file.seek(SeekFrom::End(-4)).await.unwrap(), data.len() as u64 - 4);
            let mut tail = Vec::new();
            file.read_to_end(&mut tail).await.unwrap();
            assert_eq!(tail, data[data.len() - 4..]);
        })
    });
}

#[test]
fn set_len_try_clone_from_std_and_concurrent_syncs() {
    each(ALL, |rt, _| {
        rt.block_on(async {
            let dir = TempDir::new("setlen");
            let path = dir.join("s.bin");
            let data = Rng::new(2).bytes(200_000);
            let mut file =
                File::options().read(true).write(true).create(true).truncate(true).open(&path).await.unwrap();
            file.write_all(&data).await.unwrap();
            // Three `&self` calls wait on the same in-flight write.
            {
                let f = &file;
                let (a, b, c) = futures::join!(f.sync_all(), f.sync_data(), f.set_len(150_000));
                a.unwrap();
                b.unwrap();
                c.unwrap();
            }
            assert_eq!(file.metadata().await.unwrap().len(), 150_000);

            // set_len with unread buffered bytes: the position stays at what was consumed.
            file.seek(SeekFrom::Start(100)).await.unwrap();
            let mut buf = [0u8; 15];
            let pos = 100 + poll_once_and_drop(file.read(&mut buf)).map_or(0, |n| n.unwrap());
            file.set_len(120).await.unwrap();
            assert_eq!(file.stream_position().await.unwrap(), pos as u64);
            let mut rest = Vec::new();
            file.read_to_end(&mut rest).await.unwrap();
            assert_eq!(rest, data[pos..120]);

            // try_clone shares the position; from_std/into_std round-trip.
            let clone = file.try_clone().await.unwrap();
            let mut std_clone = clone.try_into_std().expect("idle clone converts");
            use std::io::Seek;
            assert_eq!(std_clone.stream_position().unwrap(), 120);
            std_clone.seek(SeekFrom::Start(5)).unwrap();
            let mut again = File::from_std(std_clone);
            let mut five = [0u8; 5];
            again.read_exact(&mut five).await.unwrap();
            assert_eq!(five[..], data[5..10]);
            assert_eq!(file.stream_position().await.unwrap(), 10, "shared position");
        })
    });
}

#[test]
fn outside_a_runtime_fs_calls_fail_cleanly() {
    let dir = TempDir::new("noruntime");
    let path = dir.join("x.txt");
    std::fs::write(&path, "hi").unwrap();

    let err = futures::executor::block_on(fs::read(&path)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Other);
    assert!(err.to_string().contains("runtime"), "unclear message: {err}");
    let err = futures::executor::block_on(File::open(&path)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Other);

    // A File made outside a runtime reports the same error when it reads.
    let mut file = File::from_std(std::fs::File::open(&path).unwrap());
    let mut s = String::new();
    let err = futures::executor::block_on(file.read_to_string(&mut s)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Other);
    // ... and works once a runtime is current.
    let rt = Runtime::new_current_thread();
    rt.block_on(async { file.read_to_string(&mut s).await }).unwrap();
    assert_eq!(s, "hi");

    // A runtime that shut down: the job is cancelled, which is an io::Error too.
    let handle = rt.handle().clone();
    drop(rt);
    let _guard = handle.enter();
    let err = futures::executor::block_on(fs::read(&path)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Other);
    assert!(err.to_string().contains("cancelled"), "{err}");
}

/// The reader's blocking `read` can only finish when a task on the *same*
/// current-thread runtime writes into a FIFO, ticking between writes: if fs
/// calls blocked the runtime thread this would hang (and hit the deadline).
#[cfg(unix)]
#[test]
fn fs_calls_do_not_block_a_current_thread_runtime() {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;

    for use_file in [false, true] {
        with_deadline("fifo", BODY_DEADLINE, move || {
            let dir = TempDir::new("fifo");
            let fifo = dir.join("pipe");
            let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
            // SAFETY: a valid NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo");
            let payload = Arc::new(Rng::new(17).bytes(4 * 1024 * 1024));
            let ticks = Arc::new(AtomicUsize::new(0));

            let rt = Runtime::new_current_thread();
            let back = rt.block_on(async {
                let writer = {
                    let (fifo, payload, ticks) = (fifo.clone(), payload.clone(), ticks.clone());
                    tern_runtime::spawn(async move {
                        // Open without blocking: fails until the reader has opened.
                        let mut pipe = loop {
                            match std::fs::OpenOptions::new()
                                .write(true)
                                .custom_flags(libc::O_NONBLOCK)
                                .open(&fifo)
                            {
                                Ok(p) => break p,
                                Err(_) => {
                                    ticks.fetch_add(1, SeqCst);
                                    tern_runtime::yield_now().await;
                                }
                            }
                        };
                        let mut rest = &payload[..];
                        while !rest.is_empty() {
                            match pipe.write(rest) {
                                Ok(n) => rest = &rest[n..],
                                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                                    ticks.fetch_add(1, SeqCst);
                                    tern_runtime::yield_now().await;
                                }
                                Err(e) => panic!("fifo write: {e}"),
                            }
                        }
                    })
                };
                let back = if use_file {
                    let mut file = File::open(&fifo).await.unwrap();
                    let mut back = Vec::new();
                    file.read_to_end(&mut back).await.unwrap();
                    back
                } else {
                    fs::read(&fifo).await.unwrap()
                };
                writer.await.unwrap();
                back
            });
            assert!(back == *payload, "data through the fifo differs (use_file = {use_file})");
            assert!(ticks.load(SeqCst) > 0);
        });
    }
}

#[test]
fn helper_block_on_and_multi_thread_tasks() {
    // Many tasks doing file I/O at once on the multi-thread runtime.
    let dir = Arc::new(TempDir::new("many"));
    let d = dir.clone();
    tern_runtime::block_on(async move {
        let tasks: Vec<_> = (0..16u64)
            .map(|i| {
                let path: PathBuf = d.join(&format!("t{i}"));
                tern_runtime::spawn(async move {
                    let data = Rng::new(i + 100).bytes(100_000 + i as usize);
                    let mut f = File::create(&path).await?;
                    f.write_all(&data).await?;
                    f.close().await?;
                    let back = fs::read(&path).await?;
                    assert_eq!(back, data);
                    fs::remove_file(&path).await?;
                    std::io::Result::Ok(())
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
    });
    assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 0);
}

#[test]
fn public_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<File>();
    check::<OpenOptions>();
    check::<fs::ReadDir>();
    check::<fs::DirEntry>();
}
