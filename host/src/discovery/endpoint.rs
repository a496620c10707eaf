//! Endpoints as discovery sources describe them: parsed from a file, an etcd value or
//! DNS answers, and merged into one list.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// One endpoint a discovery source found.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Discovered {
    /// `ip:port`.
    #[serde(deserialize_with = "socket_address")]
    pub address: SocketAddr,
    /// Relative weight, at least 1.
    #[serde(default = "one")]
    pub weight: u32,
    /// Locality zone.
    #[serde(default)]
    pub zone: String,
    /// Free-form labels for policies.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

fn one() -> u32 {
    1
}

fn socket_address<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(d)?;
    text.parse()
        .map_err(|_| serde::de::Error::custom(format!("invalid socket address {text:?}")))
}

impl Discovered {
    /// An endpoint of weight 1 at `address`.
    pub fn at(address: SocketAddr) -> Self {
        Self {
            address,
            weight: 1,
            zone: String::new(),
            metadata: BTreeMap::new(),
        }
    }

    /// Parses a registry value: a JSON object (`{"address": "10.0.0.5:50051",
    /// "weight": 3, "zone": "a", "metadata": {…}}`) or a plain `ip:port`.
    pub fn parse(value: &str) -> Result<Self, String> {
        let value = value.trim();
        if value.starts_with('{') {
            let endpoint: Self = serde_json::from_str(value).map_err(|e| e.to_string())?;
            return endpoint.checked();
        }
        value
            .parse()
            .map(Self::at)
            .map_err(|_| format!("{value:?} is neither JSON nor an ip:port"))
    }

    fn checked(self) -> Result<Self, String> {
        if self.weight == 0 {
            return Err("weight: must be at least 1".into());
        }
        Ok(self)
    }
}

/// The endpoints of a whole file: TOML `endpoints = [...]`, or JSON `[...]` or
/// `{"endpoints": [...]}` (by the file's extension).
pub fn parse_file(text: &str, json: bool) -> Result<Vec<Discovered>, String> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        endpoints: Vec<Discovered>,
    }
    let endpoints = if !json {
        toml::from_str::<File>(text)
            .map_err(|e| e.to_string())?
            .endpoints
    } else if text.trim_start().starts_with('[') {
        serde_json::from_str(text).map_err(|e| e.to_string())?
    } else {
        serde_json::from_str::<File>(text)
            .map_err(|e| e.to_string())?
            .endpoints
    };
    endpoints
        .into_iter()
        .enumerate()
        .map(|(i, e)| e.checked().map_err(|m| format!("endpoints[{i}].{m}")))
        .collect()
}

/// `found` with duplicate addresses merged (the first kept, each duplicate logged
/// with `source`), in address order.
pub fn merge(mut found: Vec<Discovered>, cluster: &str, source: &str) -> Vec<Discovered> {
    found.sort_by_key(|e| e.address);
    found.dedup_by(|later, first| {
        let duplicate = later.address == first.address;
        if duplicate {
            tracing::warn!(
                cluster,
                source,
                address = %later.address,
                "duplicate endpoint address; keeping the first"
            );
        }
        duplicate
    });
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_files_and_duplicates() {
        let json = r#"{"address": "10.0.0.5:50051", "weight": 3, "zone": "a", "metadata": {"rack": "r1"}, "id": "x"}"#;
        let e = Discovered::parse(json).unwrap();
        assert_eq!((e.weight, e.zone.as_str()), (3, "a"));
        assert_eq!(e.metadata["rack"], "r1");
        assert_eq!(
            Discovered::parse(" 10.0.0.6:80\n").unwrap(),
            Discovered::at("10.0.0.6:80".parse().unwrap())
        );
        assert!(
            Discovered::parse("db.internal:80")
                .unwrap_err()
                .contains("neither")
        );
        assert!(
            Discovered::parse(r#"{"address": "x"}"#)
                .unwrap_err()
                .contains("invalid socket address")
        );
        assert!(Discovered::parse(r#"{"address": "1.2.3.4:5", "weight": 0}"#).is_err());

        let toml = "endpoints = [{ address = \"127.0.0.1:1\", weight = 2 }, { address = \"127.0.0.1:2\" }]";
        assert_eq!(parse_file(toml, false).unwrap().len(), 2);
        let array = r#"[{"address": "127.0.0.1:1"}]"#;
        assert_eq!(parse_file(array, true).unwrap().len(), 1);
        let object = r#"{"endpoints": [{"address": "127.0.0.1:1", "weight": 0}]}"#;
        assert_eq!(
            parse_file(object, true).unwrap_err(),
            "endpoints[0].weight: must be at least 1"
        );
        assert!(parse_file("endpoints = 3", false).is_err());

        let a = Discovered::at("127.0.0.1:1".parse().unwrap());
        let mut heavy = a.clone();
        heavy.weight = 9;
        let b = Discovered::at("127.0.0.1:2".parse().unwrap());
        assert_eq!(
            merge(vec![b.clone(), a.clone(), heavy], "c", "test"),
            vec![a, b]
        );
    }
}
