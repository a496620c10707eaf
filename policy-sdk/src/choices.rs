//! What a pick answers: a few endpoints in order of preference, without allocating.

use crate::EndpointId;
use crate::bindings::exports::switchyard::policy::balancing::Preference;

/// Up to [`Choices::MAX`] endpoints, first choice first, then fallbacks for retries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Choices {
    len: u8,
    ids: [EndpointId; Choices::MAX],
}

impl Choices {
    /// The most endpoints an answer carries.
    pub const MAX: usize = 4;

    /// No endpoint: the answer for an empty cluster only.
    pub fn none() -> Self {
        Self::default()
    }

    /// Just `id`.
    pub fn one(id: EndpointId) -> Self {
        let mut choices = Self::none();
        choices.push(id);
        choices
    }

    /// Appends `id`; returns false (and drops it) when already full.
    pub fn push(&mut self, id: EndpointId) -> bool {
        let len = usize::from(self.len);
        if len == Self::MAX {
            return false;
        }
        self.ids[len] = id;
        self.len += 1;
        true
    }

    /// The first `n` (at most [`MAX`](Self::MAX)) distinct ids of `ids`, in order:
    /// a first choice and the next different endpoints as fallbacks, as consistent
    /// hashing walks its table or ring. Stops early when `ids` ends.
    pub fn distinct(ids: impl IntoIterator<Item = EndpointId>, n: usize) -> Self {
        let n = n.min(Self::MAX);
        let mut choices = Self::none();
        for id in ids {
            if choices.len() == n {
                break;
            }
            if !choices.as_slice().contains(&id) {
                choices.push(id);
            }
        }
        choices
    }

    /// The endpoints in order.
    pub fn as_slice(&self) -> &[EndpointId] {
        &self.ids[..usize::from(self.len)]
    }

    /// The first choice, if any.
    pub fn first(&self) -> Option<EndpointId> {
        self.as_slice().first().copied()
    }

    /// How many endpoints.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl FromIterator<EndpointId> for Choices {
    /// Takes the first [`Choices::MAX`] ids.
    fn from_iter<I: IntoIterator<Item = EndpointId>>(iter: I) -> Self {
        let mut choices = Self::none();
        for id in iter.into_iter().take(Self::MAX) {
            choices.push(id);
        }
        choices
    }
}

impl From<Choices> for Preference {
    fn from(choices: Choices) -> Self {
        let [a, b, c, d] = choices.ids;
        Preference {
            len: choices.len,
            ids: (a, b, c, d),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_caps_at_max() {
        let choices: Choices = (10..20).collect();
        assert_eq!(choices.as_slice(), &[10, 11, 12, 13]);
        assert_eq!(choices.first(), Some(10));
        let mut one = Choices::one(7);
        assert!(one.push(8));
        assert_eq!(Preference::from(one).len, 2);
        assert!(Choices::none().is_empty());
    }
}
