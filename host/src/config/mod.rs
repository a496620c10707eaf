//! The TOML configuration: its shape ([`model`]), and loading it with errors that name
//! the file, the key path and what was expected.

pub mod cidr;
mod duration;
mod load;
pub mod model;
pub mod uri;

pub use duration::Dur;
pub use load::{ConfigError, check_policies, load_file, load_text, parse, parse_toml, read_token};
pub use model::Config;
