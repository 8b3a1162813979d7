//! What an upload must say about itself, and the checks that decide whether ingest takes it.
//! The rules here are the ones a court would ask about: who recorded it, with which camera,
//! when, and under which case.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::{BureauId, IdError, LocalId};

/// Upload metadata as the client sent it, before any check.
#[derive(Debug, Clone, Default)]
pub struct RawUploadMetadata {
    pub bureau: Option<String>,
    pub device: Option<String>,
    pub officer: Option<String>,
    pub recorded_at: Option<String>,
    pub file_name: Option<String>,
    pub case_ref: Option<String>,
    pub place: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub returned_at: Option<String>,
    pub late_reason: Option<String>,
}

/// A point on the earth, WGS 84 degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct Coordinates {
    pub latitude: f64,
    pub longitude: f64,
}

/// Upload metadata that passed every check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UploadMetadata {
    pub bureau: BureauId,
    pub device: LocalId,
    pub officer: LocalId,
    pub recorded_at: DateTime<Utc>,
    pub original_name: String,
    pub case_ref: Option<String>,
    /// The place as named at upload (art. 12: the place is named or filmed).
    pub place: Option<String>,
    pub coordinates: Option<Coordinates>,
    /// When the officer returned to the office after the stage of enforcement (阶段执法结束返回
    /// 机关): art. 16 counts the upload deadlines from it.
    pub returned_at: Option<DateTime<Utc>>,
    /// The special circumstance (特殊情况) for uploading more than 24 hours after the return,
    /// within art. 16's limit of 3 working days.
    pub late_reason: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MetadataError {
    #[error("missing {0}")]
    Missing(&'static str),
    #[error(transparent)]
    Id(#[from] IdError),
    #[error("recorded_at {0:?} is not an RFC 3339 time such as 2026-02-14T09:30:00+08:00")]
    BadTime(String),
    #[error("recorded_at {at} is in the future (now {now})")]
    InFuture {
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    },
    #[error("recorded_at {0} is before 2000; body cameras record a real clock time")]
    TooOld(DateTime<Utc>),
    #[error("returned_at {0:?} is not an RFC 3339 time such as 2026-02-14T17:30:00+08:00")]
    BadReturnTime(String),
    #[error("returned_at {returned} is in the future (now {now})")]
    ReturnInFuture {
        returned: DateTime<Utc>,
        now: DateTime<Utc>,
    },
    #[error("returned_at {returned} is before the recording started ({recorded}); the officer returns to the office after recording")]
    ReturnBeforeRecording {
        returned: DateTime<Utc>,
        recorded: DateTime<Utc>,
    },
    #[error("{field} {value:?} {problem}")]
    BadText {
        field: &'static str,
        value: String,
        problem: &'static str,
    },
    #[error("latitude and longitude go together; give both or neither")]
    HalfCoordinates,
    #[error("{field} {value} is out of range ({range})")]
    OutOfRange {
        field: &'static str,
        value: f64,
        range: &'static str,
    },
    #[error("bureau {requested} is not the bureau of this token ({allowed})")]
    WrongBureau {
        requested: BureauId,
        allowed: BureauId,
    },
}

/// Camera clocks drift; a recording time this far ahead of the server's clock is still taken.
pub const CLOCK_SKEW: Duration = Duration::minutes(10);

fn text(field: &'static str, value: &str, max_chars: usize) -> Result<String, MetadataError> {
    let bad = |problem| MetadataError::BadText {
        field,
        value: value.to_owned(),
        problem,
    };
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(bad("is empty"));
    }
    if trimmed.chars().count() > max_chars {
        return Err(bad("is too long"));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(bad("holds control characters"));
    }
    Ok(trimmed.to_owned())
}

impl RawUploadMetadata {
    /// Sets one field by the name the plain upload's query uses (`device`, `officer`,
    /// `recorded_at`, `file_name` or tus clients' `filename`, `case`, `place`, `lat`, `lon`,
    /// `bureau`, `returned_at`, `late_reason`), so every way of uploading names its metadata
    /// alike. Returns false for a
    /// name that is not an upload field (the caller decides whether to ignore it).
    pub fn set_field(&mut self, name: &str, value: &str) -> Result<bool, MetadataError> {
        let degrees = |field: &'static str| {
            value
                .trim()
                .parse::<f64>()
                .map_err(|_| MetadataError::BadText {
                    field,
                    value: value.to_owned(),
                    problem: "is not a number of degrees",
                })
        };
        match name {
            "bureau" => self.bureau = Some(value.to_owned()),
            "device" => self.device = Some(value.to_owned()),
            "officer" => self.officer = Some(value.to_owned()),
            "recorded_at" => self.recorded_at = Some(value.to_owned()),
            "file_name" | "filename" => self.file_name = Some(value.to_owned()),
            "case" => self.case_ref = Some(value.to_owned()),
            "place" => self.place = Some(value.to_owned()),
            "lat" => self.latitude = Some(degrees("latitude")?),
            "lon" => self.longitude = Some(degrees("longitude")?),
            "returned_at" => self.returned_at = Some(value.to_owned()),
            "late_reason" => self.late_reason = Some(value.to_owned()),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Checks every field. `token_bureau` is the bureau the caller authenticated as: the
    /// upload is filed under it, and naming another bureau is refused rather than ignored.
    pub fn validate(
        self,
        token_bureau: &BureauId,
        now: DateTime<Utc>,
    ) -> Result<UploadMetadata, MetadataError> {
        let bureau = match self.bureau.as_deref() {
            None => token_bureau.clone(),
            Some(requested) => {
                let requested = BureauId::parse(requested)?;
                if &requested != token_bureau {
                    return Err(MetadataError::WrongBureau {
                        requested,
                        allowed: token_bureau.clone(),
                    });
                }
                requested
            }
        };
        let device = LocalId::parse(
            "device id",
            self.device
                .as_deref()
                .ok_or(MetadataError::Missing("device"))?,
        )?;
        let officer = LocalId::parse(
            "officer id",
            self.officer
                .as_deref()
                .ok_or(MetadataError::Missing("officer"))?,
        )?;
        let recorded_raw = self
            .recorded_at
            .ok_or(MetadataError::Missing("recorded_at"))?;
        let recorded_at = DateTime::parse_from_rfc3339(recorded_raw.trim())
            .map_err(|_| MetadataError::BadTime(recorded_raw.clone()))?
            .with_timezone(&Utc);
        if recorded_at > now + CLOCK_SKEW {
            return Err(MetadataError::InFuture {
                at: recorded_at,
                now,
            });
        }
        if recorded_at.timestamp() < 946_684_800 {
            return Err(MetadataError::TooOld(recorded_at));
        }
        let file_name = self.file_name.ok_or(MetadataError::Missing("file_name"))?;
        let original_name = text("file_name", &file_name, 255)?;
        if original_name.contains(['/', '\\']) {
            return Err(MetadataError::BadText {
                field: "file_name",
                value: file_name,
                problem: "must be a name, not a path",
            });
        }
        let case_ref = self
            .case_ref
            .map(|case| text("case", &case, 128))
            .transpose()?;
        let place = self
            .place
            .map(|place| text("place", &place, 200))
            .transpose()?;
        let returned_at = self
            .returned_at
            .map(|raw| {
                let returned = DateTime::parse_from_rfc3339(raw.trim())
                    .map_err(|_| MetadataError::BadReturnTime(raw.clone()))?
                    .with_timezone(&Utc);
                if returned > now + CLOCK_SKEW {
                    return Err(MetadataError::ReturnInFuture { returned, now });
                }
                if returned < recorded_at {
                    return Err(MetadataError::ReturnBeforeRecording {
                        returned,
                        recorded: recorded_at,
                    });
                }
                Ok(returned)
            })
            .transpose()?;
        let late_reason = self
            .late_reason
            .map(|reason| text("late_reason", &reason, 500))
            .transpose()?;
        let coordinates = match (self.latitude, self.longitude) {
            (None, None) => None,
            (Some(latitude), Some(longitude)) => {
                if !(-90.0..=90.0).contains(&latitude) {
                    return Err(MetadataError::OutOfRange {
                        field: "latitude",
                        value: latitude,
                        range: "-90 to 90",
                    });
                }
                if !(-180.0..=180.0).contains(&longitude) {
                    return Err(MetadataError::OutOfRange {
                        field: "longitude",
                        value: longitude,
                        range: "-180 to 180",
                    });
                }
                Some(Coordinates {
                    latitude,
                    longitude,
                })
            }
            _ => return Err(MetadataError::HalfCoordinates),
        };
        Ok(UploadMetadata {
            bureau,
            device,
            officer,
            recorded_at,
            original_name,
            case_ref,
            place,
            coordinates,
            returned_at,
            late_reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap()
    }

    fn raw() -> RawUploadMetadata {
        RawUploadMetadata {
            bureau: None,
            device: Some("DSJ-01".into()),
            officer: Some("031234".into()),
            recorded_at: Some("2026-03-01T09:30:00+08:00".into()),
            file_name: Some("DSJ-01_031234_20260301_093000.mp4".into()),
            case_ref: Some("  应急罚〔2026〕12号 ".into()),
            place: Some("黄岛区长江中路".into()),
            latitude: Some(35.96),
            longitude: Some(120.19),
            returned_at: None,
            late_reason: None,
        }
    }

    #[test]
    fn accepts_a_complete_upload_in_the_tokens_bureau() {
        let bureau = BureauId::parse("b1").unwrap();
        let meta = raw().validate(&bureau, now()).unwrap();
        assert_eq!(meta.bureau, bureau);
        assert_eq!(
            meta.recorded_at,
            Utc.with_ymd_and_hms(2026, 3, 1, 1, 30, 0).unwrap()
        );
        assert_eq!(meta.case_ref.as_deref(), Some("应急罚〔2026〕12号"));
        assert_eq!((meta.returned_at, meta.late_reason), (None, None));
    }

    #[test]
    fn a_return_to_the_office_comes_after_the_recording_and_not_later_than_now() {
        let bureau = BureauId::parse("b1").unwrap();
        let mut with_return = raw();
        with_return.recorded_at = Some("2026-03-01T09:30:00+08:00".into());
        with_return
            .set_field("returned_at", " 2026-03-01T15:00:00+08:00 ")
            .unwrap();
        with_return
            .set_field("late_reason", " 现场处置突发事件 ")
            .unwrap();
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
        let meta = with_return.clone().validate(&bureau, now).unwrap();
        assert_eq!(
            meta.returned_at,
            Some(Utc.with_ymd_and_hms(2026, 3, 1, 7, 0, 0).unwrap())
        );
        assert_eq!(meta.late_reason.as_deref(), Some("现场处置突发事件"));
        for (returned, expected) in [
            ("yesterday", "returned_at \"yesterday\" is not an RFC 3339"),
            ("2026-03-01T18:00:00+08:00", "in the future"),
            ("2026-03-01T09:00:00+08:00", "before the recording started"),
        ] {
            let mut bad = with_return.clone();
            bad.returned_at = Some(returned.into());
            let err = bad.validate(&bureau, now).unwrap_err().to_string();
            assert!(err.contains(expected), "{returned}: {err}");
        }
        let mut blank_reason = with_return;
        blank_reason.late_reason = Some("  ".into());
        assert!(blank_reason.validate(&bureau, now).is_err());
    }

    #[test]
    fn refuses_another_bureau_and_each_bad_field() {
        let bureau = BureauId::parse("b1").unwrap();
        let other = RawUploadMetadata {
            bureau: Some("b2".into()),
            ..raw()
        };
        assert!(matches!(
            other.validate(&bureau, now()),
            Err(MetadataError::WrongBureau { .. })
        ));

        let cases: Vec<(RawUploadMetadata, &str)> = vec![
            (
                RawUploadMetadata {
                    device: None,
                    ..raw()
                },
                "missing device",
            ),
            (
                RawUploadMetadata {
                    officer: Some("a_b".into()),
                    ..raw()
                },
                "officer id",
            ),
            (
                RawUploadMetadata {
                    recorded_at: Some("yesterday".into()),
                    ..raw()
                },
                "RFC 3339",
            ),
            (
                RawUploadMetadata {
                    recorded_at: Some("2026-03-02T09:00:00Z".into()),
                    ..raw()
                },
                "future",
            ),
            (
                RawUploadMetadata {
                    recorded_at: Some("1999-12-31T00:00:00Z".into()),
                    ..raw()
                },
                "before 2000",
            ),
            (
                RawUploadMetadata {
                    file_name: Some("../../etc/passwd".into()),
                    ..raw()
                },
                "not a path",
            ),
            (
                RawUploadMetadata {
                    file_name: Some("a\u{0}b".into()),
                    ..raw()
                },
                "control",
            ),
            (
                RawUploadMetadata {
                    case_ref: Some(" ".into()),
                    ..raw()
                },
                "empty",
            ),
            (
                RawUploadMetadata {
                    latitude: None,
                    ..raw()
                },
                "together",
            ),
            (
                RawUploadMetadata {
                    latitude: Some(91.0),
                    ..raw()
                },
                "latitude 91",
            ),
            (
                RawUploadMetadata {
                    longitude: Some(f64::NAN),
                    ..raw()
                },
                "longitude",
            ),
        ];
        for (input, expected) in cases {
            let err = input.validate(&bureau, now()).unwrap_err().to_string();
            assert!(
                err.contains(expected),
                "{err:?} does not mention {expected:?}"
            );
        }
    }
}
