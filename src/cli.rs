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
