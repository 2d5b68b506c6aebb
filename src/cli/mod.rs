//! The binary's own modules (the library never sees them): [`args`] (clap types), [`render`]
//! (reports as text) and [`progress`] (how progress and events reach the user).

pub mod args;
pub mod progress;
pub mod render;
