//! Canonical clip names (art. 17) from a configurable template. The default follows the
//! file names of GA/T 947 collection stations: `{device}_{officer}_{YYYYMMDD}_{HHMMSS}[_IMP]`.
//! A part in square brackets appears only for clips flagged important (重点). Dates and times
//! are China Standard Time.

use chrono::{DateTime, Utc};

use crate::deadlines::china_time;

pub const DEFAULT_TEMPLATE: &str = "{device}_{officer}_{YYYYMMDD}_{HHMMSS}[_IMP]";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TemplateError {
    #[error("name template {template:?}: unknown field {{{field}}} (known: device, officer, bureau, category, YYYYMMDD, HHMMSS)")]
    UnknownField { template: String, field: String },
    #[error("name template {template:?}: unbalanced {what}")]
    Unbalanced {
        template: String,
        what: &'static str,
    },
    #[error("name template {template:?} must contain {{device}} and a date or time so names stay distinct")]
    TooVague { template: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field(Field),
    Important(Vec<Piece>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Device,
    Officer,
    Bureau,
    Category,
    Date,
    Time,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameTemplate {
    pieces: Vec<Piece>,
}

/// What a name is made of.
pub struct NameParts<'a> {
    pub device: &'a str,
    pub officer: &'a str,
    pub bureau: &'a str,
    pub category: Option<&'a str>,
    pub recorded_at: DateTime<Utc>,
    pub important: bool,
}

impl NameTemplate {
    pub fn parse(template: &str) -> Result<Self, TemplateError> {
        let unbalanced = |what| TemplateError::Unbalanced {
            template: template.to_owned(),
            what,
        };
        let mut stack: Vec<Vec<Piece>> = vec![Vec::new()];
        let mut chars = template.chars().peekable();
        let mut text = String::new();
        let flush = |text: &mut String, stack: &mut Vec<Vec<Piece>>| {
            if !text.is_empty() {
                if let Some(top) = stack.last_mut() {
                    top.push(Piece::Text(std::mem::take(text)));
                }
            }
        };
        while let Some(c) = chars.next() {
            match c {
                '{' => {
                    flush(&mut text, &mut stack);
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(ch) => name.push(ch),
                            None => return Err(unbalanced("braces")),
                        }
                    }
                    let field = match name.as_str() {
                        "device" => Field::Device,
                        "officer" => Field::Officer,
                        "bureau" => Field::Bureau,
                        "category" => Field::Category,
                        "YYYYMMDD" => Field::Date,
                        "HHMMSS" => Field::Time,
                        _ => {
                            return Err(TemplateError::UnknownField {
                                template: template.to_owned(),
                                field: name,
                            })
                        }
                    };
                    stack
                        .last_mut()
                        .ok_or_else(|| unbalanced("brackets"))?
                        .push(Piece::Field(field));
                }
                '}' => return Err(unbalanced("braces")),
                '[' => {
                    flush(&mut text, &mut stack);
                    if stack.len() > 1 {
                        return Err(unbalanced("brackets (no nesting)"));
                    }
                    stack.push(Vec::new());
                }
                ']' => {
                    flush(&mut text, &mut stack);
                    if stack.len() != 2 {
                        return Err(unbalanced("brackets"));
                    }
                    let inner = stack.pop().unwrap_or_default();
                    stack
                        .last_mut()
                        .ok_or_else(|| unbalanced("brackets"))?
                        .push(Piece::Important(inner));
                }
                c => text.push(c),
            }
        }
        flush(&mut text, &mut stack);
        if stack.len() != 1 {
            return Err(unbalanced("brackets"));
        }
        let pieces = stack.pop().unwrap_or_default();
        let has = |f: Field| pieces.contains(&Piece::Field(f));
        if !has(Field::Device) || !(has(Field::Date) || has(Field::Time)) {
            return Err(TemplateError::TooVague {
                template: template.to_owned(),
            });
        }
        Ok(Self { pieces })
    }

    pub fn render(&self, parts: &NameParts<'_>) -> String {
        let local = parts.recorded_at.with_timezone(&china_time());
        let mut out = String::new();
        render_into(
            &self.pieces,
            parts,
            &local.format("%Y%m%d").to_string(),
            &local.format("%H%M%S").to_string(),
            &mut out,
        );
        // A name is a file name: no path separators, whatever a category holds.
        out.replace(['/', '\\'], "-")
    }
}

fn render_into(pieces: &[Piece], parts: &NameParts<'_>, date: &str, time: &str, out: &mut String) {
    for piece in pieces {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Field(Field::Device) => out.push_str(parts.device),
            Piece::Field(Field::Officer) => out.push_str(parts.officer),
            Piece::Field(Field::Bureau) => out.push_str(parts.bureau),
            Piece::Field(Field::Category) => out.push_str(parts.category.unwrap_or("未分类")),
            Piece::Field(Field::Date) => out.push_str(date),
            Piece::Field(Field::Time) => out.push_str(time),
            Piece::Important(inner) if parts.important => {
                render_into(inner, parts, date, time, out)
            }
            Piece::Important(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn parts(important: bool) -> NameParts<'static> {
        NameParts {
            device: "DSJ-0001",
            officer: "031234",
            bureau: "b1",
            category: Some("行政处罚"),
            recorded_at: Utc.with_ymd_and_hms(2026, 2, 13, 16, 5, 9).unwrap(),
            important,
        }
    }

    #[test]
    fn the_default_follows_collection_station_names_in_local_time() {
        let template = NameTemplate::parse(DEFAULT_TEMPLATE).unwrap();
        // 16:05:09 UTC is 00:05:09 the next day in China.
        assert_eq!(
            template.render(&parts(false)),
            "DSJ-0001_031234_20260214_000509"
        );
        assert_eq!(
            template.render(&parts(true)),
            "DSJ-0001_031234_20260214_000509_IMP"
        );
    }

    #[test]
    fn other_templates_and_their_errors() {
        let template =
            NameTemplate::parse("{bureau}-{category}-{device}-{YYYYMMDD}[-重点]").unwrap();
        assert_eq!(
            template.render(&parts(true)),
            "b1-行政处罚-DSJ-0001-20260214-重点"
        );
        assert!(
            matches!(NameTemplate::parse("{device}_{when}"), Err(TemplateError::UnknownField { field, .. }) if field == "when")
        );
        assert!(matches!(
            NameTemplate::parse("{device}_{HHMMSS"),
            Err(TemplateError::Unbalanced { .. })
        ));
        assert!(matches!(
            NameTemplate::parse("{device}_{HHMMSS}]"),
            Err(TemplateError::Unbalanced { .. })
        ));
        assert!(matches!(
            NameTemplate::parse("[[{device}]]{HHMMSS}"),
            Err(TemplateError::Unbalanced { .. })
        ));
        assert!(matches!(
            NameTemplate::parse("{officer}"),
            Err(TemplateError::TooVague { .. })
        ));
    }

    #[test]
    fn a_category_cannot_make_a_path() {
        let template = NameTemplate::parse("{category}/{device}_{HHMMSS}").unwrap();
        let mut p = parts(false);
        p.category = Some("a/../b");
        assert!(!template.render(&p).contains('/'));
    }
}
