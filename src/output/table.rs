//! One renderer for every listing (`group list`, `group members`, `locks`, ...) and for
//! streams of events (`watch`): a command describes its rows with [`Row`] and never
//! formats a table itself.
//!
//! - `-o json`: one JSON document, an array of the rows as serialized (field names are
//!   the contract's: `name`, `group`, `member_id`, `capabilities`, `leader`, `holder`, ...).
//! - `-o yaml`: the same array as YAML.
//! - text on a terminal: a comfy-table with a header row.
//! - text otherwise (pipes, cron): plain lines, one per row, columns separated by two
//!   spaces and aligned, no header, so `awk '{print $1}'` gets the first column.
//!
//! Every cell is escaped by [`super::escape`]. A terminal table cuts a cell longer than
//! [`CELL_MAX`] characters to that many, ending in `…`; plain lines print every cell whole
//! (a script may need the whole name) and align columns up to [`ALIGN_MAX`] characters
//! wide only, so one huge name does not pad every other line. JSON and YAML show
//! everything whole.
//!
//! Streams ([`stream_item`]) print one item per line in JSON (JSON lines), one `---`
//! document per item in YAML, and the item's text line otherwise; each is flushed at once.

use std::io::Write;

use comfy_table::{presets, ContentArrangement, Table};
use serde::Serialize;

use crate::cli::OutputFormat;
use crate::error::{Error, Result};

/// A row of a listing: serialized as is for JSON/YAML, shown as `cells()` under
/// `HEADERS` as text.
pub trait Row: Serialize {
    /// Column titles for text output.
    const HEADERS: &'static [&'static str];
    /// One cell per header, already formatted for people.
    fn cells(&self) -> Vec<String>;
}

/// The widest cell a terminal table shows whole.
pub const CELL_MAX: usize = 100;
/// The widest column plain lines pad to.
pub const ALIGN_MAX: usize = 64;

fn write_stdout(text: &str) {
    let mut stdout = std::io::stdout().lock();
    // A closed stdout (`| head`) is not an error worth a message.
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|_| stdout.flush());
}

fn json<T: Serialize + ?Sized>(v: &T) -> Result<String> {
    serde_json::to_string(v)
        .map(super::escape::json)
        .map_err(|e| Error::Internal(format!("encoding JSON: {e}")))
}

fn yaml<T: Serialize + ?Sized>(v: &T) -> Result<String> {
    super::escape::yaml(v).map_err(|e| Error::Internal(format!("encoding YAML: {e}")))
}

/// Render `rows` as text (`tty`: a table with headers), JSON or YAML, to a string.
/// `empty` is what a terminal shows for no rows.
pub fn render<R: Row>(format: OutputFormat, tty: bool, rows: &[R], empty: &str) -> Result<String> {
    match format {
        OutputFormat::Json => Ok(json(rows)? + "\n"),
        OutputFormat::Yaml => yaml(rows),
        OutputFormat::Text if tty => {
            if rows.is_empty() {
                return Ok(format!("{empty}\n"));
            }
            let mut t = Table::new();
            t.load_preset(presets::UTF8_FULL_CONDENSED)
                .set_header(R::HEADERS.to_vec());
            // Wrap to the terminal only when its width is known (a pty may report 0).
            if t.width().is_some_and(|w| w >= 40) {
                t.set_content_arrangement(ContentArrangement::Dynamic);
            }
            for r in rows {
                t.add_row(
                    r.cells()
                        .iter()
                        .map(|c| super::shorten(&super::escape::escape(c), CELL_MAX))
                        .collect::<Vec<_>>(),
                );
            }
            Ok(format!("{t}\n"))
        }
        OutputFormat::Text => Ok(plain(
            rows.iter()
                .map(|r| {
                    r.cells()
                        .iter()
                        .map(|c| super::escape::escape(c).into_owned())
                        .collect()
                })
                .collect(),
        )),
    }
}

/// Aligned columns, two spaces apart, no trailing blanks.
fn plain(rows: Vec<Vec<String>>) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
                .min(ALIGN_MAX)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            if i + 1 < r.len() {
                // Padded by hand: format!'s width is limited to 65535 and panics beyond.
                line.push_str(c);
                let pad = widths[i].saturating_sub(c.chars().count()) + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            } else {
                line.push_str(c);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Print a listing on stdout.
pub fn print_list<R: Row>(format: OutputFormat, tty: bool, rows: &[R], empty: &str) -> Result<()> {
    write_stdout(&render(format, tty, rows, empty)?);
    Ok(())
}

/// Print one item of a stream (a watch event) on stdout, flushed at once.
pub fn stream_item<T: Serialize>(
    format: OutputFormat,
    item: &T,
    text: impl FnOnce() -> String,
) -> Result<()> {
    let out = match format {
        OutputFormat::Json => json(item)? + "\n",
        OutputFormat::Yaml => format!("---\n{}", yaml(item)?),
        OutputFormat::Text => super::escape::escape(&text()).into_owned() + "\n",
    };
    write_stdout(&out);
    Ok(())
}

/// A JSON value as a cell: compact JSON, `-` for null.
pub fn json_cell(v: &serde_json::Value) -> String {
    if v.is_null() {
        "-".to_string()
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct R {
        name: String,
        n: u32,
    }

    impl Row for R {
        const HEADERS: &'static [&'static str] = &["NAME", "N"];
        fn cells(&self) -> Vec<String> {
            vec![self.name.clone(), self.n.to_string()]
        }
    }

    #[test]
    fn renders_every_format() {
        let rows = vec![
            R {
                name: "a".into(),
                n: 1,
            },
            R {
                name: "long".into(),
                n: 22,
            },
        ];
        assert_eq!(
            render(OutputFormat::Json, false, &rows, "").unwrap(),
            "[{\"name\":\"a\",\"n\":1},{\"name\":\"long\",\"n\":22}]\n"
        );
        assert_eq!(
            render(OutputFormat::Text, false, &rows, "").unwrap(),
            "a     1\nlong  22\n"
        );
        assert!(render(OutputFormat::Yaml, false, &rows, "")
            .unwrap()
            .contains("- name: a"));
        let t = render(OutputFormat::Text, true, &rows, "").unwrap();
        assert!(t.contains("NAME") && t.contains("long"), "{t}");
        assert_eq!(
            render::<R>(OutputFormat::Json, true, &[], "none").unwrap(),
            "[]\n"
        );
        assert_eq!(
            render::<R>(OutputFormat::Text, true, &[], "none").unwrap(),
            "none\n"
        );
    }

    #[test]
    fn any_width_renders() {
        // format!'s width argument panics beyond 65535: a name any tooz client can plant.
        let wide = "g".repeat(70_000);
        let rows = vec![
            R {
                name: wide.clone(),
                n: 1,
            },
            R {
                name: "x\u{1b}[2J".into(),
                n: 2,
            },
        ];
        let plain = render(OutputFormat::Text, false, &rows, "").unwrap();
        assert!(
            plain.contains(&format!("{wide}  1\n")),
            "whole in plain lines"
        );
        let second = plain.lines().nth(1).unwrap();
        assert!(
            second.starts_with("x\\u{1b}[2J") && second.len() < 80,
            "{second}"
        );
        let tty = render(OutputFormat::Text, true, &rows, "").unwrap();
        assert!(!tty.contains(&wide) && tty.contains('…') && !tty.contains('\u{1b}'));
        assert!(render(OutputFormat::Json, true, &rows, "")
            .unwrap()
            .contains(&wide));
    }
}
