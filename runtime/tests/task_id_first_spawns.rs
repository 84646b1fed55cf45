//! Task ids of the very first spawns in a process are distinct even when a later
//! task reuses an earlier one's registry slot. Its own test binary (one test), so
//! that the process-wide id counter starts at zero here.

use std::collections::HashSet;

#[test]
fn first_spawns_of_a_process_have_distinct_ids() {
    let rt = tern_runtime::Runtime::new_current_thread();
    rt.block_on(async {
        let mut seen = HashSet::new();
        for i in 0..3000 {
            // Each task finishes before the next is spawned, so slots are reused.
            let h = tern_runtime::spawn(async {});
            let id = h.id();
            h.await.unwrap();
            assert!(seen.insert(id), "spawn {i} reused the id {id:?}");
        }
    });
}
