//! The code itself: its module graph, and the fuzz corpora replayed.
//!
//! One test binary per area (uv's layout): each file below was its own binary, which linked the
//! whole library and compiled `tests/common` again.

mod architecture;
mod fuzz_corpora;
