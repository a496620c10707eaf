//! Reading a policy's `policy_config` key/values.

use std::str::FromStr;

/// A policy's configuration: the key/value pairs of its cluster's `policy_config`.
///
/// ```
/// use switchyard_policy_sdk::Config;
///
/// let pairs = vec![("sample".to_string(), "5".to_string())];
/// let config = Config::new(&pairs);
/// config.reject_unknown(&["sample", "bias"]).unwrap();
/// assert_eq!(config.parse_or("sample", 3usize), Ok(5));
/// assert_eq!(config.parse_or("bias", 1.0f64), Ok(1.0));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Config<'a> {
    pairs: &'a [(String, String)],
}

impl<'a> Config<'a> {
    /// Wraps the pairs handed to `init`.
    ///
    /// ```
    /// use switchyard_policy_sdk::Config;
    ///
    /// let pairs = vec![("a".to_string(), "1".to_string())];
    /// assert_eq!(Config::new(&pairs).get("a"), Some("1"));
    /// ```
    pub fn new(pairs: &'a [(String, String)]) -> Self {
        Self { pairs }
    }

    /// The value of `key`, if set (the last one wins when a key repeats).
    ///
    /// ```
    /// use switchyard_policy_sdk::Config;
    ///
    /// let pairs = vec![
    ///     ("zone".to_string(), "a".to_string()),
    ///     ("zone".to_string(), "b".to_string()),
    /// ];
    /// assert_eq!(Config::new(&pairs).get("zone"), Some("b"));
    /// assert_eq!(Config::new(&pairs).get("other"), None);
    /// ```
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `key` parsed as `T`, or `default` when absent. The error names the
    /// key, the value and what was expected.
    ///
    /// ```
    /// use switchyard_policy_sdk::Config;
    ///
    /// let pairs = vec![("sample".to_string(), "three".to_string())];
    /// let config = Config::new(&pairs);
    /// assert_eq!(config.parse_or("absent", 3u32), Ok(3));
    /// let err = config.parse_or("sample", 3u32).unwrap_err();
    /// assert_eq!(err, "policy_config.sample: expected u32, found \"three\"");
    /// ```
    pub fn parse_or<T: FromStr>(&self, key: &str, default: T) -> Result<T, String> {
        match self.get(key) {
            None => Ok(default),
            Some(raw) => raw.trim().parse().map_err(|_| {
                format!(
                    "policy_config.{key}: expected {}, found {raw:?}",
                    std::any::type_name::<T>()
                )
            }),
        }
    }

    /// Fails on any key not in `known`, so that typos are caught at load.
    ///
    /// ```
    /// use switchyard_policy_sdk::Config;
    ///
    /// let pairs = vec![("smaple".to_string(), "3".to_string())];
    /// let err = Config::new(&pairs).reject_unknown(&["sample"]).unwrap_err();
    /// assert_eq!(err, "policy_config.smaple: unknown key (this policy knows: sample)");
    /// ```
    pub fn reject_unknown(&self, known: &[&str]) -> Result<(), String> {
        match self
            .pairs
            .iter()
            .find(|(k, _)| !known.contains(&k.as_str()))
        {
            None => Ok(()),
            Some((k, _)) => Err(format!(
                "policy_config.{k}: unknown key (this policy knows: {})",
                if known.is_empty() {
                    "no keys".to_string()
                } else {
                    known.join(", ")
                }
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let pairs = vec![
            ("choices".to_string(), "3".to_string()),
            ("bias".to_string(), "x".to_string()),
        ];
        let config = Config::new(&pairs);
        assert_eq!(config.parse_or("choices", 2u32), Ok(3));
        assert_eq!(config.parse_or("absent", 7u32), Ok(7));
        let err = config.parse_or("bias", 1.0f64).unwrap_err();
        assert!(
            err.contains("policy_config.bias") && err.contains("\"x\""),
            "{err}"
        );
        let err = config.reject_unknown(&["choices"]).unwrap_err();
        assert!(err.starts_with("policy_config.bias: unknown key"), "{err}");
    }
}
