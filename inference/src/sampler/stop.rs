//! [`StopMatcher`]: stop strings over text that arrives in pieces.

/// What [`StopMatcher::push`] says about the text so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopOutcome {
    /// No stop string has completed. The text is safe to emit now; a suffix that could
    /// be the start of a stop string is held back for the next push (or
    /// [`StopMatcher::finish`]).
    Continue(String),
    /// A stop string completed: the held and new text before it. Generation should end;
    /// the stop string and anything after it are not emitted.
    Stop(String),
}

/// Finds stop strings in streamed decoded text (the OpenAI / llama.cpp server `stop`
/// parameter), emitting only what cannot belong to one.
///
/// Semantics: generation ends at the first **completed** stop string, as a generator
/// that checks after every character would see it — the text ends at the earliest end
/// of an occurrence of any stop, cut at that occurrence's start (when several end at the
/// same character, the longest, which starts earliest). So the result does not depend on
/// how the text is split into pushes. Matching is on bytes of UTF-8, so cuts always fall
/// on character boundaries.
///
/// Memory: holds back at most the longest stop string's length minus one byte, plus the
/// newest push.
#[derive(Debug, Clone, Default)]
pub struct StopMatcher {
    stops: Vec<String>,
    held: String,
    stopped: bool,
}

impl StopMatcher {
    /// A matcher for `stops`; empty strings are ignored (no stops: every push passes
    /// straight through).
    pub fn new(stops: Vec<String>) -> StopMatcher {
        let stops = stops.into_iter().filter(|s| !s.is_empty()).collect();
        StopMatcher { stops, held: String::new(), stopped: false }
    }

    /// Feeds newly decoded `text`. After a [`StopOutcome::Stop`] the matcher is done:
    /// every later push returns `Stop("")`.
    pub fn push(&mut self, text: &str) -> StopOutcome {
        if self.stopped {
            return StopOutcome::Stop(String::new());
        }
        if self.stops.is_empty() {
            return StopOutcome::Continue(text.to_owned());
        }
        self.held.push_str(text);
        // Earliest end, then earliest start. Every occurrence ending in the new text
        // starts inside `held`: the held suffix is the longest that begins a stop.
        let mut best: Option<(usize, usize)> = None;
        for stop in &self.stops {
            if let Some(start) = self.held.find(stop.as_str()) {
                let end = start + stop.len();
                best = match best {
                    Some((s, e)) if (e, s) <= (end, start) => best,
                    _ => Some((start, end)),
                };
            }
        }
        if let Some((start, _)) = best {
            self.stopped = true;
            self.held.truncate(start);
            return StopOutcome::Stop(std::mem::take(&mut self.held));
        }
        let keep = self.partial_suffix();
        let cut = self.held.len() - keep;
        let emit = self.held[..cut].to_owned();
        self.held.drain(..cut);
        StopOutcome::Continue(emit)
    }

    /// Ends the stream: returns the held-back text (it never became a stop string), or
    /// `""` after a [`StopOutcome::Stop`]. The matcher is then empty and may be reused
    /// for a new stream.
    pub fn finish(&mut self) -> String {
        self.stopped = false;
        std::mem::take(&mut self.held)
    }

    /// The length in bytes of the longest suffix of `held` that is a proper prefix of
    /// some stop. It starts on a character boundary: it equals the start of a stop, which
    /// is valid UTF-8.
    fn partial_suffix(&self) -> usize {
        let held = self.held.as_bytes();
        let mut best = 0;
        for stop in &self.stops {
            let stop = stop.as_bytes();
            for k in (best + 1..stop.len().min(held.len() + 1)).rev() {
                if held.ends_with(&stop[..k]) {
                    best = k;
                    break;
                }
            }
        }
        best
    }
}
