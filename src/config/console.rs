//! `[gateway.console]`: the operator console (`crate::console`) is read-only unless the
//! site file gives it an admin token, which operator actions must carry as
//! `Authorization: Bearer …`.
//!
//! ```toml
//! [gateway.console]
//! admin_token_file = "/etc/floorgate/console-token"   # or admin_token = "…"
//! ```
//!
//! The token never appears in a log line, a `Debug` print or a console response.

use std::path::PathBuf;

use serde::Deserialize;

/// The shortest token accepted.
pub const MIN_TOKEN_LEN: usize = 16;

/// `[gateway.console]`.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleSection {
    /// The bearer token operator actions need: at least 16 characters, no whitespace.
    pub admin_token: Option<String>,
    /// A file holding the token (its first line), relative to the site file; instead of
    /// `admin_token`, so the site file can be shared without the secret.
    pub admin_token_file: Option<PathBuf>,
}

impl std::fmt::Debug for ConsoleSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleSection")
            .field(
                "admin_token",
                &self.admin_token.as_ref().map(|_| "<redacted>"),
            )
            .field("admin_token_file", &self.admin_token_file)
            .finish()
    }
}

impl ConsoleSection {
    /// The admin token (`None`: operator actions are off), read from `admin_token_file`
    /// when it names one. The error names the field, never the token.
    pub fn token(&self) -> Result<Option<String>, (&'static str, String)> {
        let token = match (&self.admin_token, &self.admin_token_file) {
            (Some(_), Some(_)) => {
                return Err((
                    "gateway.console.admin_token",
                    "admin_token and admin_token_file contradict each other: keep one".into(),
                ))
            }
            (None, None) => return Ok(None),
            (Some(t), None) => t.clone(),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    (
                        "gateway.console.admin_token_file",
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                text.lines().next().unwrap_or_default().trim().to_string()
            }
        };
        let field = if self.admin_token.is_some() {
            "gateway.console.admin_token"
        } else {
            "gateway.console.admin_token_file"
        };
        if token.chars().count() < MIN_TOKEN_LEN {
            return Err((
                field,
                format!("the token is shorter than {MIN_TOKEN_LEN} characters"),
            ));
        }
        if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err((field, "the token contains whitespace".into()));
        }
        Ok(Some(token))
    }
}
