//! yum's comps (`repodata/*-comps*.xml`, repomd's `group` entry): the package groups of a
//! repository. A manifest's base can name groups (`groups = ["core"]`, what an EL minimal install
//! is) instead of listing their packages; a group's mandatory and default packages are its
//! members, as `dnf group install` takes them (optional and conditional ones are not).

use std::collections::BTreeMap;

use quick_xml::events::Event;
use quick_xml::Reader;

use super::RepoError;
use moa_model::limits;

/// Group id → its mandatory and default packages, in the file's order.
pub type Groups = BTreeMap<String, Vec<String>>;

/// Parses a comps file; a group without an id is skipped.
pub fn parse_groups(xml: &[u8], url: &str) -> Result<Groups, RepoError> {
    let bad = |message: String| RepoError::Malformed { url: url.to_string(), message };
    let mut r = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut groups = Groups::new();
    let (mut in_group, mut field, mut text) = (false, "", String::new());
    let (mut id, mut members, mut req_type) = (None::<String>, Vec::new(), String::new());
    loop {
        buf.clear();
        match r.read_event_into(&mut buf).map_err(|e| bad(format!("comps is not valid XML: {e}")))? {
            Event::Start(e) => match e.name().into_inner() {
                "group" => (in_group, id, members) = (true, None, Vec::new()),
                "id" if in_group && id.is_none() => (field, text) = ("id", String::new()),
                "packagereq" if in_group => {
                    req_type = e
                        .attributes()
                        .flatten()
                        .find(|a| a.key.into_inner() == "type")
                        .map(|a| a.value.into_owned())
                        .unwrap_or_else(|| "mandatory".into());
                    (field, text) = ("packagereq", String::new());
                }
                _ => {}
            },
            Event::Text(t) if !field.is_empty() => text.push_str(&t.xml10_content()),
            Event::End(e) => match e.name().into_inner() {
                "id" if field == "id" => (id, field) = (Some(text.trim().to_string()), ""),
                "packagereq" if field == "packagereq" => {
                    if matches!(req_type.as_str(), "mandatory" | "default") {
                        // A name reaches notes and messages: a package name or nothing.
                        let name = moa_model::types::PackageName::new(text.trim()).map_err(|e| {
                            bad(format!("comps names a package `{}`: {e}", moa_model::types::shown(text.trim())))
                        })?;
                        members.push(name.to_string());
                    }
                    field = "";
                }
                "group" => {
                    in_group = false;
                    if let Some(g) = id.take() {
                        groups.insert(g, std::mem::take(&mut members));
                    }
                    limits::check("the number of comps groups", groups.len() as u64, limits::PACKAGES as u64)
                        .map_err(&bad)?;
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mandatory_and_default_members_count_optional_ones_do_not() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<comps>
  <group>
    <id>core</id>
    <name>Core</name>
    <name xml:lang="de">Kern</name>
    <packagelist>
      <packagereq type="mandatory">bash</packagereq>
      <packagereq type="default">chrony</packagereq>
      <packagereq type="optional">tmux</packagereq>
      <packagereq type="conditional" requires="x">y</packagereq>
      <packagereq>rpm</packagereq>
    </packagelist>
  </group>
  <category><id>c</id><grouplist><groupid>core</groupid></grouplist></category>
</comps>"#;
        let g = parse_groups(xml, "t").unwrap();
        assert_eq!(g.len(), 1);
        assert_eq!(g["core"], ["bash", "chrony", "rpm"]);
        assert!(parse_groups(b"<comps></group>", "t").is_err());
        let forged = b"<comps><group><id>core</id><packagelist><packagereq>bash\x1b[31m</packagereq></packagelist></group></comps>";
        assert!(parse_groups(forged, "t").unwrap_err().to_string().contains("comps names a package"));
    }
}
