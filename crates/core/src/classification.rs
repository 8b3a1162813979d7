//! Classification (art. 17): a category from the bureau's list, a description of the place and
//! main content, whether the clip is important (重点), and the matter (执法事项) and party
//! (当事人) the record must show (art. 12 (3)).

use serde::Serialize;

pub const DEFAULT_CATEGORIES: [&str; 9] = [
    "行政检查",
    "行政处罚",
    "行政强制",
    "调查取证",
    "询问",
    "现场勘验",
    "送达",
    "复查",
    "其他",
];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClassificationError {
    #[error("unknown category {given:?}; the categories are: {known}")]
    UnknownCategory { given: String, known: String },
    #[error("{field} {problem}")]
    BadText {
        field: &'static str,
        problem: &'static str,
    },
    #[error("the category list is empty")]
    NoCategories,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Categories(Vec<String>);

impl Default for Categories {
    fn default() -> Self {
        Self(DEFAULT_CATEGORIES.iter().map(|c| (*c).to_owned()).collect())
    }
}

impl Categories {
    pub fn new(list: Vec<String>) -> Result<Self, ClassificationError> {
        let list: Vec<String> = list
            .into_iter()
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty())
            .collect();
        if list.is_empty() {
            return Err(ClassificationError::NoCategories);
        }
        Ok(Self(list))
    }

    pub fn list(&self) -> &[String] {
        &self.0
    }

    pub fn check(&self, given: &str) -> Result<String, ClassificationError> {
        let given = given.trim();
        self.0
            .iter()
            .find(|c| c.as_str() == given)
            .cloned()
            .ok_or_else(|| ClassificationError::UnknownCategory {
                given: given.to_owned(),
                known: self.0.join(", "),
            })
    }
}

/// A classification as it will be stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Classification {
    pub category: String,
    pub description: String,
    pub place: Option<String>,
    pub important: bool,
    /// The enforcement matter (执法事项), e.g. 安全生产检查.
    pub matter: Option<String>,
    /// The party (当事人): the enterprise or person the enforcement concerns.
    pub party: Option<String>,
}

fn text(
    field: &'static str,
    value: &str,
    max: usize,
    required: bool,
) -> Result<Option<String>, ClassificationError> {
    let value = value.trim();
    if value.is_empty() {
        return if required {
            Err(ClassificationError::BadText {
                field,
                problem: "must not be empty",
            })
        } else {
            Ok(None)
        };
    }
    if value.chars().count() > max {
        return Err(ClassificationError::BadText {
            field,
            problem: "is too long",
        });
    }
    if value.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ClassificationError::BadText {
            field,
            problem: "holds control characters",
        });
    }
    Ok(Some(value.to_owned()))
}

impl Classification {
    pub fn new(
        categories: &Categories,
        category: &str,
        description: &str,
        place: Option<&str>,
        important: bool,
    ) -> Result<Self, ClassificationError> {
        Ok(Self {
            category: categories.check(category)?,
            description: text("description", description, 2000, true)?.unwrap_or_default(),
            place: place
                .map(|p| text("place", p, 200, false))
                .transpose()?
                .flatten(),
            important,
            matter: None,
            party: None,
        })
    }

    /// Names the matter (执法事项) and the party (当事人); empty text names neither.
    pub fn with_matter_and_party(
        self,
        matter: Option<&str>,
        party: Option<&str>,
    ) -> Result<Self, ClassificationError> {
        let optional = |field, value: Option<&str>| {
            value
                .map(|v| text(field, v, 200, false))
                .transpose()
                .map(Option::flatten)
        };
        Ok(Self {
            matter: optional("matter", matter)?,
            party: optional("party", party)?,
            ..self
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_come_from_the_list() {
        let categories = Categories::default();
        let c = Classification::new(
            &categories,
            " 行政处罚 ",
            "对某加油站进行现场检查",
            Some("青岛市黄岛区"),
            true,
        )
        .unwrap();
        assert_eq!(c.category, "行政处罚");
        let err = Classification::new(&categories, "交通", "x", None, false).unwrap_err();
        assert!(err.to_string().contains("行政检查"), "{err}");
        assert!(matches!(
            Classification::new(&categories, "其他", "  ", None, false),
            Err(ClassificationError::BadText {
                field: "description",
                ..
            })
        ));
        assert_eq!(
            Classification::new(&categories, "其他", "d", Some(" "), false)
                .unwrap()
                .place,
            None
        );
        assert_eq!(
            Categories::new(vec![" ".into()]),
            Err(ClassificationError::NoCategories)
        );
    }

    #[test]
    fn matter_and_party_are_optional_text() {
        let c = Classification::new(&Categories::default(), "行政检查", "检查", None, false)
            .unwrap()
            .with_matter_and_party(Some(" 安全生产检查 "), Some("某加油站"))
            .unwrap();
        assert_eq!(
            (c.matter.as_deref(), c.party.as_deref()),
            (Some("安全生产检查"), Some("某加油站"))
        );
        let blank = c.clone().with_matter_and_party(Some(" "), None).unwrap();
        assert_eq!((blank.matter, blank.party), (None, None));
        assert!(matches!(
            c.clone()
                .with_matter_and_party(None, Some(&"名".repeat(201))),
            Err(ClassificationError::BadText { field: "party", .. })
        ));
        assert!(matches!(
            c.with_matter_and_party(Some("a\u{7}"), None),
            Err(ClassificationError::BadText {
                field: "matter",
                ..
            })
        ));
    }
}
