//! Replays every committed fuzz corpus file (fuzz/corpus/TARGET/) through the same harness
//! function `cargo fuzz` runs (fuzz/harness.rs), on the stable toolchain: the properties the
//! fuzzer checked hold for everything it found, and a fixed finding stays fixed. Seconds, not
//! minutes; `scripts/fuzz.sh` is the fuzzing itself.

#[path = "../../fuzz/harness.rs"]
mod harness;

use std::path::Path;

#[test]
fn every_corpus_file_passes_its_harness() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut total = 0;
    for (name, check) in harness::TARGETS {
        let dir = root.join(name);
        let mut files: Vec<_> = fs_err::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}: every target keeps a corpus", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{} is empty", dir.display());
        for f in &files {
            let data = fs_err::read(f).unwrap();
            // A panic names the file, so it can be run again with `cargo fuzz run TARGET FILE`.
            let r = std::panic::catch_unwind(|| check(&data));
            assert!(r.is_ok(), "{name}: {} fails its harness", f.display());
        }
        total += files.len();
    }
    assert!(total >= harness::TARGETS.len());
    eprintln!("replayed {total} corpus files");
}
