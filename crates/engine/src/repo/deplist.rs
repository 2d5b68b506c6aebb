//! Dependency lists as a record keeps them: the entries of one field (`requires`,
//! `provides`, `files`…) joined by newlines in one allocation, checked as the parsers and the
//! parsed-index cache read them.

/// The dependency strings of one field of one package (`requires`, `provides`…), in one
/// allocation: ~60,000 bookworm records with a dozen such strings each, as separate `String`s,
/// were most of the memory a resolve took. Entries never hold a newline, which separates them.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct DepList(Box<str>);

/// The entries of a [`DepList`], each separator found by a vectorised search (the resolver
/// walks every provide and file of every package this way).
pub struct DepIter<'a>(&'a str);

impl<'a> Iterator for DepIter<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        while !self.0.is_empty() {
            let (entry, rest) = match memchr::memchr(b'\n', self.0.as_bytes()) {
                Some(i) => (&self.0[..i], &self.0[i + 1..]),
                None => (self.0, ""),
            };
            self.0 = rest;
            if !entry.is_empty() {
                return Some(entry);
            }
        }
        None
    }
}

/// A record's dependency list as it holds it (borrowed from the record's packed text): the
/// entries joined by newlines.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Deps<'a>(&'a str);

impl<'a> Deps<'a> {
    pub(crate) fn new(joined: &'a str) -> Self {
        Self(joined)
    }
    pub fn iter(self) -> DepIter<'a> {
        DepIter(self.0)
    }
    pub fn is_empty(self) -> bool {
        self.0.is_empty()
    }
    /// How many entries: one more than the newlines between them (a record's lists hold no
    /// empty entry; the parsers and the parsed-index cache refuse one), counted in one pass.
    pub fn len(self) -> usize {
        match self.0.is_empty() {
            true => 0,
            false => self.0.bytes().filter(|&b| b == b'\n').count() + 1,
        }
    }
    pub fn contains(self, entry: &str) -> bool {
        self.iter().any(|e| e == entry)
    }
    /// The entries as stored, joined by newlines.
    pub(crate) fn as_joined(self) -> &'a str {
        self.0
    }
    pub fn to_vec(self) -> Vec<String> {
        self.iter().map(str::to_string).collect()
    }
}

impl<'a> IntoIterator for Deps<'a> {
    type Item = &'a str;
    type IntoIter = DepIter<'a>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a> IntoIterator for &Deps<'a> {
    type Item = &'a str;
    type IntoIter = DepIter<'a>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl std::fmt::Debug for Deps<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl DepList {
    /// The list as a record reads it: every reader (`iter`, `len`, `to_vec`…) is [`Deps`]'.
    pub fn deps(&self) -> Deps<'_> {
        Deps(&self.0)
    }
    pub fn iter(&self) -> DepIter<'_> {
        self.deps().iter()
    }
    /// A list that was checked when it was first made (read back from a packed record).
    pub(crate) fn from_joined(joined: &str) -> Self {
        Self(joined.into())
    }
    /// A list as given, unchecked: what a damaged or hostile cache could hold.
    #[cfg(test)]
    pub(crate) fn unchecked(joined: &str) -> Self {
        Self(joined.into())
    }
    /// The entries as stored, joined by newlines.
    pub(crate) fn as_joined(&self) -> &str {
        &self.0
    }
}

impl<S: AsRef<str>> FromIterator<S> for DepList {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut joined = String::new();
        for s in iter {
            let s = s.as_ref();
            debug_assert!(!s.contains('\n'), "a dependency with a newline: {s:?}");
            if !joined.is_empty() {
                joined.push('\n');
            }
            joined.push_str(s);
        }
        Self(joined.into_boxed_str())
    }
}

impl DepList {
    /// The entries of one field as the metadata gives them, refused (with the field's name)
    /// when one holds a control character — a newline would split one entry into two — or when
    /// there are more than [`moa_model::limits::DEPS_PER_FIELD`].
    pub fn checked<S: AsRef<str>>(field: &str, entries: &[S]) -> Result<Self, String> {
        if entries.len() > moa_model::limits::DEPS_PER_FIELD {
            // The message only when it is needed: this runs for every field of every package.
            let what = format!("the number of {field} entries");
            moa_model::limits::check(&what, entries.len() as u64, moa_model::limits::DEPS_PER_FIELD as u64)?;
        }
        match entries.iter().find(|e| !Self::is_entry(e.as_ref())) {
            Some(bad) => Err(Self::bad_entry(field, bad.as_ref())),
            None => Ok(entries.iter().collect()),
        }
    }

    /// As [`DepList::checked`], given the entries already joined by newlines (as a parsed-index
    /// entry stores them): checked in place and kept as they are, one allocation.
    pub fn checked_joined(field: &str, joined: &str) -> Result<Self, String> {
        Self::check_joined(field, joined).map(|()| Self(joined.into()))
    }

    /// The check of [`DepList::checked_joined`], without making a list.
    pub(crate) fn check_joined(field: &str, joined: &str) -> Result<(), String> {
        if Self::plain_joined(joined) {
            return Ok(());
        }
        // Not plain ASCII within the limits: each entry checked, and the bad one named.
        let mut count = 0;
        for e in joined.split('\n') {
            count += 1;
            if !Self::is_entry(e) {
                return Err(Self::bad_entry(field, e));
            }
        }
        if count > moa_model::limits::DEPS_PER_FIELD {
            let what = format!("the number of {field} entries");
            moa_model::limits::check(&what, count as u64, moa_model::limits::DEPS_PER_FIELD as u64)?;
        }
        Ok(())
    }

    /// Whether `joined` is ASCII entries of 1 to 4096 bytes without control characters, at
    /// most [`moa_model::limits::DEPS_PER_FIELD`] of them: one pass over the bytes, as nearly
    /// every list in real metadata is.
    fn plain_joined(joined: &str) -> bool {
        // ASCII without a control character but the separator: 64 bytes at a time, a loop
        // the compiler turns into vector instructions.
        let clean = joined
            .as_bytes()
            .chunks(64)
            .all(|c| !c.iter().fold(false, |bad, &b| bad | ((b < 0x20) & (b != b'\n')) | (b >= 0x7f)));
        let (mut start, mut count) = (0, 0);
        let mut ends = memchr::memchr_iter(b'\n', joined.as_bytes()).chain([joined.len()]);
        clean
            && (joined.is_empty()
                || ends.all(|end| {
                    let len = end - start;
                    (start, count) = (end + 1, count + 1);
                    len > 0 && len <= 4096
                }) && count <= moa_model::limits::DEPS_PER_FIELD)
    }

    fn is_entry(e: &str) -> bool {
        !e.is_empty() && moa_model::types::is_line(e, 4096)
    }

    fn bad_entry(field: &str, e: &str) -> String {
        format!("{field} entry `{}` is empty, too long or has a control character", moa_model::types::shown(e))
    }
}

impl From<Vec<String>> for DepList {
    fn from(v: Vec<String>) -> Self {
        v.iter().collect()
    }
}

impl<'a> IntoIterator for &'a DepList {
    type Item = &'a str;
    type IntoIter = DepIter<'a>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl std::fmt::Debug for DepList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.deps().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_joined_dependency_list_is_refused_exactly_when_its_entries_are() {
        let long = "x".repeat(4096);
        let too_long = "x".repeat(4097);
        let many = vec!["a"; moa_model::limits::DEPS_PER_FIELD + 1].join("\n");
        let most = vec!["a"; moa_model::limits::DEPS_PER_FIELD].join("\n");
        let cases = [
            "",
            "a",
            "a\nb (>= 1)",
            "\na",
            "a\n",
            "a\n\nb",
            "\n",
            "a\tb",
            "a\u{7f}",
            "libé",
            "a\u{85}b",
            "a\rb",
            &long,
            &too_long,
            &many,
            &most,
        ];
        for joined in cases {
            let entries: Vec<&str> = if joined.is_empty() { vec![] } else { joined.split('\n').collect() };
            let one = DepList::checked("requires", &entries).map(|d| d.deps().to_vec());
            let other = DepList::checked_joined("requires", joined).map(|d| d.deps().to_vec());
            assert_eq!(one, other, "{:?}", &joined[..joined.len().min(20)]);
        }
        assert!(DepList::checked_joined("requires", &long).is_ok());
        assert!(DepList::checked_joined("requires", &too_long).is_err());
        assert!(DepList::checked_joined("requires", &many).is_err());
        assert!(DepList::checked_joined("requires", "a\u{85}b").is_err());
        assert!(DepList::checked_joined("requires", "a\n").is_err());
    }
}
