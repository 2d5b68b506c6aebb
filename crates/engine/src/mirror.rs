//! One repository, several mirrors: the loop every download from a repository goes through
//! (metadata in `repo`, packages in `fetch`). Each mirror is tried in turn until one serves;
//! every failure but the last is reported as a [`Event::Failover`], a success after failures as
//! [`Event::Recovered`], and when all fail each mirror's own error is kept, typed, for the
//! caller to judge (all "not found"? all bad signatures?) and to say.

use std::error::Error;
use std::fmt;

use crate::report::{Event, Reporter};
use crate::transport::error_chain;

/// What each mirror said, in the order they were tried: the mirror and its error, typed.
#[derive(Debug)]
pub struct Failures<E> {
    pub each: Vec<(String, E)>,
}

impl<E> Failures<E> {
    /// Whether every mirror failed this way (true when there was no mirror at all).
    pub(crate) fn all(&self, f: impl Fn(&E) -> bool) -> bool {
        self.each.iter().all(|(_, e)| f(e))
    }
}

/// Each mirror's error with its causes (`a: b: c`), joined by `; `: a list has no one source
/// chain, so each is said in full on its line of the message.
impl<E: Error> fmt::Display for Failures<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: Vec<String> = self.each.iter().map(|(_, e)| error_chain(e)).collect();
        f.write_str(&shown.join("; "))
    }
}

/// Tries `attempt` with each of `mirrors` in order: the index of the first that served and
/// what it gave, or every mirror's error. `what` names the file in events.
pub(crate) fn first_success<M: fmt::Display, T, E: Error>(
    mirrors: &[M],
    what: &str,
    reporter: &dyn Reporter,
    mut attempt: impl FnMut(&M) -> Result<T, E>,
) -> Result<(usize, T), Failures<E>> {
    let mut failures = Failures { each: Vec::new() };
    for (i, mirror) in mirrors.iter().enumerate() {
        match attempt(mirror) {
            Ok(t) => {
                if i > 0 {
                    reporter.event(&Event::Recovered { what: what.into(), mirror: mirror.to_string(), failed: i });
                }
                return Ok((i, t));
            }
            Err(e) => {
                if i + 1 < mirrors.len() {
                    let error = error_chain(&e);
                    reporter.event(&Event::Failover { what: what.into(), mirror: mirror.to_string(), error });
                }
                failures.each.push((mirror.to_string(), e));
            }
        }
    }
    Err(failures)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    struct Events(Mutex<Vec<String>>);
    impl Reporter for Events {
        fn event(&self, e: &Event) {
            self.0.lock().unwrap().push(e.to_string());
        }
    }

    #[derive(Debug, thiserror::Error)]
    #[error("{0} is down")]
    struct Down(String);

    /// An error with a cause, as a transport error has one.
    #[derive(Debug, thiserror::Error)]
    #[error("HTTP {code}")]
    struct Status {
        code: u16,
        #[source]
        source: std::io::Error,
    }

    #[test]
    fn the_first_mirror_that_serves_wins_and_each_failure_is_said_and_kept() {
        let events = Events::default();
        let mirrors = ["http://a", "http://b", "http://c"];
        let got = first_success(&mirrors, "x.xml", &events, |m| match *m {
            "http://c" => Ok(7),
            m => Err(Down(m.to_string())),
        });
        assert_eq!(got.unwrap(), (2, 7));
        let said = events.0.lock().unwrap().clone();
        assert_eq!(said.len(), 3, "{said:?}");
        assert!(said[0].contains("http://a") && said[0].contains("trying the next mirror"), "{said:?}");
        assert!(said[2].contains("from http://c after 2 mirror(s) failed"), "{said:?}");

        let events = Events::default();
        let gone = || Status { code: 404, source: std::io::Error::other("gone") };
        let all = first_success(&mirrors, "x.xml", &events, |_| Err::<(), _>(gone()));
        let f = all.unwrap_err();
        // Each mirror's error is kept typed, and said with its cause.
        assert!(f.all(|e| e.code == 404) && f.each.len() == 3);
        assert_eq!(f.to_string(), "HTTP 404: gone; HTTP 404: gone; HTTP 404: gone");
        // The last failure has no next mirror to announce.
        assert_eq!(events.0.lock().unwrap().len(), 2);
    }
}
