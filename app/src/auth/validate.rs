//! Parse-don't-validate newtypes for what people type into account forms.

use crate::error::AppError;

/// A plausible, normalised (trimmed, lower-case) email address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Email, AppError> {
        let e = raw.trim().to_lowercase();
        let bad = || AppError::Validation("Enter an email address like name@example.com.".into());
        if e.len() > 254 || e.chars().any(char::is_whitespace) {
            return Err(bad());
        }
        let (local, domain) = e.split_once('@').ok_or_else(bad)?;
        if local.is_empty()
            || domain.len() < 3
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains('@')
        {
            return Err(bad());
        }
        Ok(Email(e))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The name shown on pages and certificates: 1 to 80 printable characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(raw: &str) -> Result<DisplayName, AppError> {
        let n = raw.trim();
        if n.is_empty() || n.chars().count() > 80 || n.chars().any(char::is_control) {
            return Err(AppError::Validation(
                "Enter a display name of 1 to 80 characters.".into(),
            ));
        }
        Ok(DisplayName(n.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password: 10 to 128 characters (long passphrases welcome).
#[derive(Clone, PartialEq, Eq)]
pub struct NewPassword(String);

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(***)")
    }
}

impl NewPassword {
    pub fn parse(raw: &str) -> Result<NewPassword, AppError> {
        let len = raw.chars().count();
        if !(10..=128).contains(&len) {
            return Err(AppError::Validation(
                "Choose a password of 10 to 128 characters; a few words make a good one.".into(),
            ));
        }
        Ok(NewPassword(raw.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").map(|e| e.as_str().to_string()),
            Ok("ada@example.com".into())
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "ada@.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_and_passwords() {
        assert!(DisplayName::parse("  ").is_err());
        assert!(DisplayName::parse(&"x".repeat(81)).is_err());
        assert_eq!(
            DisplayName::parse(" Ada ").map(|n| n.as_str().to_string()),
            Ok("Ada".into())
        );
        assert!(NewPassword::parse("short").is_err());
        assert!(NewPassword::parse("long enough pass").is_ok());
        assert_eq!(
            format!("{:?}", NewPassword::parse("long enough pass")),
            "Ok(NewPassword(***))"
        );
    }
}
