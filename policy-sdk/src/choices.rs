//! What a pick answers: a few endpoints in order of preference, without allocating.

use crate::EndpointId;
use crate::bindings::exports::switchyard::policy::balancing::Preference;

/// Up to [`Choices::MAX`] endpoints, first choice first, then fallbacks for retries;
/// and, for a policy whose needs ask for [`Candidates::Watched`](crate::Candidates),
/// up to [`Choices::MAX_WATCH`] endpoints whose figures the next pick receives.
///
/// ```
/// use switchyard_policy_sdk::Choices;
///
/// let choices: Choices = [4, 1, 2].into_iter().collect();
/// assert_eq!(choices.first(), Some(4));
/// assert_eq!(choices.as_slice(), &[4, 1, 2]);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Choices {
    len: u8,
    ids: [EndpointId; Choices::MAX],
    watching: u8,
    watch: [EndpointId; Choices::MAX_WATCH],
}

impl Choices {
    /// The most endpoints an answer carries.
    ///
    /// ```
    /// use switchyard_policy_sdk::Choices;
    ///
    /// let choices: Choices = (0..10).collect();
    /// assert_eq!(choices.len(), Choices::MAX);
    /// ```
    pub const MAX: usize = 4;
    /// The most endpoints an answer watches.
    ///
    /// ```
    /// use switchyard_policy_sdk::Choices;
    ///
    /// let mut choices = Choices::one(0);
    /// for id in 0..Choices::MAX_WATCH as u32 {
    ///     assert!(choices.watch(id));
    /// }
    /// assert!(!choices.watch(99));
    /// ```
    pub const MAX_WATCH: usize = 8;

    /// Asks for `id`'s figures and metrics with the next pick (with
    /// [`Candidates::Watched`](crate::Candidates)); returns false (and drops it) when
    /// [`MAX_WATCH`](Self::MAX_WATCH) are watched already.
    ///
    /// ```
    /// use switchyard_policy_sdk::Choices;
    /// let mut choices = Choices::one(3);
    /// assert!(choices.watch(7));
    /// assert_eq!(choices.watched(), &[7]);
    /// ```
    pub fn watch(&mut self, id: EndpointId) -> bool {
        let n = usize::from(self.watching);
        if n == Self::MAX_WATCH {
            return false;
        }
        self.watch[n] = id;
        self.watching += 1;
        true
    }

    /// The endpoints watched, in order.
    ///
    /// ```
    /// use switchyard_policy_sdk::Choices;
    ///
    /// let mut choices = Choices::one(1);
    /// assert!(choices.watched().is_empty());
    /// choices.watch(2);
    /// choices.watch(3);
    /// assert_eq!(choices.watched(), &[2, 3]);
    /// ```
    pub fn watched(&self) -> &[EndpointId] {
        &self.watch[..usize::from(self.watching)]
    }

    /// No endpoint: the answer for an empty cluster only.
    ///
    /// ```
    /// use switchyard_policy_sdk::Choices;
    ///
    /// assert!(Choices::none().is_empty());
    /// ```
    pub fn none() -> Self {
        Self::default()
    }

    /// Just `id`.
    ///
    /// ```
    /// use switchyard_policy_sdk::Choices;
    ///
    /// assert_eq!(Choices::one(7).as_slice(), &[7]);
    /// ```
    pub fn one(id: EndpointId) -> Self {
        let mut choices = Self::none();
        choices.push(id);
        choices
    }

    /// Appends `id`; returns false (and drops it) when already full.
    ///
    /// ```
    /// use switchyard_policy_sdk::Choices;
    ///
    /// let mut choices = Choices::one(0);
    /// assert!(choices.push(1));
    /// let mut full: Choices = (0..4).collect();
    /// assert!(!full.push(9));
    /// assert_eq!(full.len(), 4);
    /// ```
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
    ///
    /// ```
    /// use switchyard_policy_sdk::Choices;
    ///
    /// // A ring walk meets the same endpoints again: keep the first of each.
    /// let walk = [3, 3, 1, 3, 0, 2];
    /// assert_eq!(Choices::distinct(walk, 3).as_slice(), &[3, 1, 0]);
    /// assert_eq!(Choices::distinct([5, 5], 3).as_slice(), &[5]);
    /// ```
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
    ///
    /// ```
    /// use switchyard_policy_sdk::Choices;
    ///
    /// let choices: Choices = [2, 0].into_iter().collect();
    /// assert_eq!(choices.as_slice(), &[2, 0]);
    /// ```
    pub fn as_slice(&self) -> &[EndpointId] {
        &self.ids[..usize::from(self.len)]
    }

    /// The first choice, if any.
    ///
    /// ```
    /// use switchyard_policy_sdk::Choices;
    ///
    /// assert_eq!(Choices::one(5).first(), Some(5));
    /// assert_eq!(Choices::none().first(), None);
    /// ```
    pub fn first(&self) -> Option<EndpointId> {
        self.as_slice().first().copied()
    }

    /// How many endpoints.
    ///
    /// ```
    /// use switchyard_policy_sdk::Choices;
    ///
    /// assert_eq!(Choices::one(5).len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// True when there is none.
    ///
    /// ```
    /// use switchyard_policy_sdk::Choices;
    ///
    /// assert!(!Choices::one(5).is_empty());
    /// ```
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
        let [w0, w1, w2, w3, w4, w5, w6, w7] = choices.watch;
        Preference {
            len: choices.len,
            ids: (a, b, c, d),
            watch_len: choices.watching,
            watch: (w0, w1, w2, w3, w4, w5, w6, w7),
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
