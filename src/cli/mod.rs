//! The binary's own modules (the libraries never see them): [`args`] (clap types), [`run`] (one
//! function per command, and the dispatch), [`render`] (reports as text or JSON) and
//! [`progress`] (how progress and events reach the user); [`review`] writes `review`'s HTML page.

pub mod args;
pub mod progress;
pub mod render;
pub mod review;
pub mod run;
