//! The command line. `serve` is the default command.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::Overrides;

#[derive(Debug, Parser)]
#[command(name = "chartdesk", version, about = "The help desk that lives beside the chart")]
pub struct Cli {
    /// Configuration file (TOML). Environment CHARTDESK__SECTION__KEY and flags override it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory for the SQLite database and generated keys.
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve {
        /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free port).
        #[arg(long, value_name = "ADDR")]
        bind: Option<String>,
    },
    /// Create the database if needed and apply migrations, then exit.
    Migrate,
    /// Print the full effective configuration as commented TOML (secrets masked).
    PrintConfig,
    /// The audit trail: verify it, export it.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Encryption keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Apply the retention policy now: purge expired content and destroy its data keys.
    Purge,
    /// Classify messages read one per line from stdin: one JSON object per line on stdout
    /// (`{"route","category","urgent","score","signals":[{"rule","start","end"}]}`, character
    /// offsets), or with `--format label` just CLINICAL or IT per line.
    Classify {
        #[arg(long, value_parser = ["json", "label"], default_value = "json")]
        format: String,
    },
    /// Redact PHI from messages read as JSON lines `{"id":…,"text":…}` (optionally with
    /// `"known":{"names":[…],"mrns":[…],"birth_dates":[…],"phones":[…],"addresses":[…]}` for
    /// the patient in context) from stdin; writes `{"id","redacted","spans":[{"start","end",
    /// "label"}],"preds":[…same…]}` per line, offsets in characters (Unicode scalars). A bad
    /// line is reported on stderr with its number, and the exit status is non-zero.
    Redact {
        #[arg(long, value_parser = ["jsonl"], default_value = "jsonl")]
        format: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain, the content and every checkpoint; name the first bad record.
    /// Exit status 1 when anything is wrong.
    Verify,
    /// Export AuditEvents recorded in [since, until) as FHIR (a Bundle) or NDJSON.
    Export {
        /// Start, inclusive: RFC 3339 or YYYY-MM-DD (UTC).
        #[arg(long)]
        since: String,
        /// End, exclusive: RFC 3339 or YYYY-MM-DD (UTC). Default: now.
        #[arg(long)]
        until: Option<String>,
        #[arg(long, value_parser = ["fhir", "ndjson"], default_value = "ndjson")]
        format: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Re-wrap every data key under a new master key. With a master key in
    /// `<data_dir>/keys/master.key`, a new one is generated and replaces it; with
    /// `security.master_key` configured, pass the new key and update the configuration after.
    Rotate {
        /// File holding the new master key (base64 of 32 bytes).
        #[arg(long, value_name = "FILE")]
        new_master_key_file: Option<PathBuf>,
    },
}

/// Parse a CLI time bound: RFC 3339, or a date meaning its UTC midnight.
pub fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc().timestamp_millis())
        .map_err(|_| format!("`{s}` is not an RFC 3339 time or a YYYY-MM-DD date"))
}

impl Cli {
    pub fn overrides(&self) -> Overrides {
        let bind = match &self.command {
            Some(Command::Serve { bind }) => bind.clone(),
            _ => None,
        };
        Overrides { bind, data_dir: self.data_dir.clone() }
    }
}
