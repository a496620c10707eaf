//! Weighted choice at a constant cost per pick, however many endpoints there are.
//!
//! - [`AliasTable`]: random choice in proportion to weight (Walker's alias method, built
//!   with Vose's algorithm). Built in O(n); a sample is O(1) and uses one 64-bit random
//!   number.
//! - [`StrideScheduler`]: deterministic weighted round-robin (the static stride
//!   scheduler of gRPC's `weighted_round_robin` balancer). Built in O(n); a pick is
//!   expected O(1); one weight is updated in O(1) while the maximum holds.
//!
//! Both are meant to be built in [`Balancer::set_members`](crate::Balancer::set_members)
//! and used in every pick, where [`weighted_index`](crate::weighted_index) walks all the
//! weights each time.

/// The number of units the largest weight is scaled to when weights are not whole
/// numbers (or too large to be used as they are).
const FULL: u32 = u16::MAX as u32;

/// A weight that counts: positive (an infinite one counts as the largest finite
/// number). `None` for zero, negative and NaN.
fn known(weight: f64) -> Option<f64> {
    (weight > 0.0).then(|| weight.min(f64::MAX))
}

/// Random choice in proportion to weight in O(1): Walker's alias method, built with
/// Vose's algorithm in O(n).
///
/// Each of the `n` indexes owns a bucket of probability 1/n, split between the index
/// itself and one *alias*, an index whose weight overflows its own bucket. A sample
/// takes the bucket from the high bits of its random number (the integer part of
/// `random × n / 2⁶⁴`) and the side from the rest (its fractional part), so one bucket
/// read decides. Probabilities are those of the weights to within about 2⁻⁵³ (the `f64`
/// arithmetic of the construction).
///
/// Weights that are zero, negative or NaN are never chosen, unless all are: then every
/// index is equally likely. These are the semantics of
/// [`weighted_index`](crate::weighted_index), which walks the weights on every call.
/// An infinite weight counts as the largest finite number.
///
/// ```
/// use switchyard_policy_sdk::{AliasTable, mix64};
///
/// let table = AliasTable::new(&[3.0, 1.0, 0.0]);
/// let mut counts = [0; 3];
/// for k in 0..40_000u64 {
///     counts[table.sample(mix64(k)).unwrap()] += 1;
/// }
/// assert_eq!(counts[2], 0);
/// let ratio = counts[0] as f64 / counts[1] as f64;
/// assert!((2.8..3.2).contains(&ratio), "{counts:?}");
/// ```
#[derive(Clone, Debug, Default)]
pub struct AliasTable {
    buckets: Vec<Bucket>,
}

/// One index's share of the table.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    /// The bucket's own index is chosen when the sample's fraction is below this
    /// (out of 2⁶⁴); `u64::MAX` with `alias` the bucket itself for a full bucket.
    threshold: u64,
    /// The index chosen otherwise.
    alias: usize,
}

impl AliasTable {
    /// Builds the table for `weights`, in O(n).
    ///
    /// ```
    /// use switchyard_policy_sdk::AliasTable;
    ///
    /// // Index 1 is never chosen: its weight is zero.
    /// let table = AliasTable::new(&[1.0, 0.0]);
    /// assert_eq!(table.sample(0), Some(0));
    /// assert_eq!(table.sample(u64::MAX), Some(0));
    ///
    /// // No weight counts: every index is equally likely.
    /// let uniform = AliasTable::new(&[0.0, f64::NAN, -1.0]);
    /// assert_eq!(uniform.sample(u64::MAX / 2), Some(1));
    /// ```
    pub fn new(weights: &[f64]) -> Self {
        let n = weights.len();
        let full = |i| Bucket {
            threshold: u64::MAX,
            alias: i,
        };
        let clean: Vec<f64> = weights.iter().map(|&w| known(w).unwrap_or(0.0)).collect();
        let (heaviest, top) = clean
            .iter()
            .copied()
            .enumerate()
            .fold(
                (0, 0.0),
                |best, (i, w)| if w > best.1 { (i, w) } else { best },
            );
        if top == 0.0 {
            return Self {
                buckets: (0..n).map(full).collect(),
            };
        }
        // Scaled by the largest first, so that the sum cannot overflow; then so that
        // the average is 1 (a bucket's worth).
        let sum: f64 = clean.iter().map(|w| w / top).sum();
        let per_bucket = n as f64 / sum;
        let mut share: Vec<f64> = clean.iter().map(|w| w / top * per_bucket).collect();
        let mut buckets: Vec<Bucket> = (0..n).map(full).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..n).partition(|&i| share[i] < 1.0);
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            buckets[s] = Bucket {
                threshold: threshold(share[s]),
                alias: l,
            };
            // What `l` has left once it filled the rest of `s`'s bucket.
            share[l] = (share[l] + share[s]) - 1.0;
            if share[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // Left over, up to rounding errors, are full buckets: `large` ones already are;
        // a `small` one keeps its whole bucket if its weight counts, else (rounding went
        // the wrong way) gives it to the heaviest index.
        for s in small {
            if clean[s] == 0.0 {
                buckets[s] = Bucket {
                    threshold: 0,
                    alias: heaviest,
                };
            }
        }
        Self { buckets }
    }

    /// Chooses an index given 64 uniformly distributed random bits, in O(1); `None`
    /// when the table is empty.
    ///
    /// ```
    /// use switchyard_policy_sdk::{AliasTable, mix64};
    ///
    /// let table = AliasTable::new(&[1.0, 1000.0]);
    /// let heavy = (0..10_000).filter(|&k| table.sample(mix64(k)) == Some(1)).count();
    /// assert!(heavy > 9_950);
    /// assert_eq!(AliasTable::new(&[]).sample(42), None);
    /// ```
    pub fn sample(&self, random: u64) -> Option<usize> {
        let product = u128::from(random) * self.buckets.len() as u128;
        let index = (product >> 64) as usize;
        let fraction = product as u64;
        let bucket = self.buckets.get(index)?;
        Some(if fraction < bucket.threshold {
            index
        } else {
            bucket.alias
        })
    }

    /// How many indexes the table chooses from (the number of weights it was built
    /// with, counting those that are never chosen).
    ///
    /// ```
    /// use switchyard_policy_sdk::AliasTable;
    ///
    /// assert_eq!(AliasTable::new(&[1.0, 0.0, 2.0]).len(), 3);
    /// ```
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// True when the table was built from no weights: [`AliasTable::sample`] answers
    /// `None`.
    ///
    /// ```
    /// use switchyard_policy_sdk::AliasTable;
    ///
    /// assert!(AliasTable::new(&[]).is_empty());
    /// assert!(AliasTable::default().is_empty());
    /// assert!(!AliasTable::new(&[0.0]).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

/// A probability in [0, 1] as a threshold out of 2⁶⁴.
fn threshold(probability: f64) -> u64 {
    if probability >= 1.0 {
        u64::MAX
    } else {
        // Saturating: a negative rounding error gives 0.
        (probability * 18_446_744_073_709_551_616.0) as u64
    }
}

/// Deterministic weighted round-robin with a pick expected in O(1): gRPC's static stride
/// scheduler.
///
/// # How it picks
///
/// Each endpoint has a weight of `u` units and the heaviest has `M` units. Tries go
/// round the endpoints in order, `0` to `n - 1`, one *round* after another; endpoint
/// `i` is taken in round `r` when `(u·r + cᵢ) mod M ≥ M − u`, which happens in exactly
/// `u` of every `M` consecutive rounds, evenly spread over them (`cᵢ` is a fixed phase
/// per endpoint, from a golden-ratio sequence, so that endpoints of equal weight do not
/// all skip the same rounds). Skipped tries are free of side effects; a pick returns the
/// first endpoint taken.
///
/// **Shares.** Over any `M` consecutive rounds each endpoint is picked exactly `u`
/// times, and over any number of rounds within one pick of `u / M` of them. Whole
/// numbers up to 65,535 (with a whole mean, if some weights are unknown) are used as
/// they are, so shares are exact over a short cycle
/// (weights 5, 1, 1 give `0 0 1 0 0 2 0` over and over; 3, 2, 1, 4 repeat every 10
/// picks). Other weights are scaled so that the largest is 65,535 units, rounded and
/// at least 1 unit: shares follow the weights to within half a unit, 1/131,070 of the
/// largest weight (a weight below that counts as 1 unit).
///
/// **Cost.** A pick takes `M·n / Σu` tries on average, which is the ratio of the
/// largest weight to the mean weight ([`StrideScheduler::expected_tries`]): 1 for equal
/// weights (plain round-robin), 1.6 for 3, 2, 1, 4, 1.998 for 1 and 1000. The heaviest
/// endpoint is taken in every round, so a pick never takes more than `n` tries — the
/// bad case is one endpoint holding nearly all the weight of a large cluster. (gRPC
/// caps weights at 10 × the mean to bound the average at 10; this scheduler does not,
/// because the cap changes the shares of skewed configurations.) A try is a few integer
/// operations, no randomness.
///
/// **Missing weights.** A weight that is zero, negative or NaN is unknown, as in gRPC:
/// that endpoint gets the mean of the known weights. When no weight is known, every
/// endpoint gets the same share (round-robin).
///
/// ```
/// use switchyard_policy_sdk::StrideScheduler;
///
/// let mut schedule = StrideScheduler::new(&[5.0, 1.0, 1.0]);
/// let picks: Vec<usize> = (0..14).map(|_| schedule.pick().unwrap()).collect();
/// assert_eq!(picks, [0, 0, 1, 0, 0, 2, 0, 0, 0, 1, 0, 0, 2, 0]);
/// ```
#[derive(Clone, Debug, Default)]
pub struct StrideScheduler {
    /// Each endpoint's weight in units, 0 where it is unknown (`mean` then).
    units: Vec<u16>,
    /// The weights as given, to scale them again.
    weights: Vec<f64>,
    /// `M`: the units of the heaviest endpoint, at most [`FULL`]; 1 when no weight is
    /// known.
    max: u32,
    /// The weight that is `max` units.
    top: f64,
    /// Weights are used as they are (all known ones are whole numbers up to [`FULL`],
    /// and so is their mean if some are unknown), else scaled to `FULL`.
    whole: bool,
    /// Units of an unknown weight: the mean of the known ones, at least 1.
    mean: u32,
    /// Sum of the units of the known weights.
    known_sum: u64,
    /// How many weights are known.
    known: usize,
    /// How many known weights have `max` units.
    at_max: usize,
    /// The endpoint of the next try.
    next: usize,
    /// The round of the next try, modulo `max`.
    round: u32,
}

impl StrideScheduler {
    /// Builds a scheduler for `weights` in O(n), starting at endpoint 0 of round 0.
    ///
    /// ```
    /// use switchyard_policy_sdk::StrideScheduler;
    ///
    /// // The unknown weight (0) gets the mean of the others, 2.
    /// let mut schedule = StrideScheduler::new(&[3.0, 0.0, 1.0]);
    /// let mut counts = [0; 3];
    /// for _ in 0..600 {
    ///     counts[schedule.pick().unwrap()] += 1;
    /// }
    /// assert_eq!(counts, [300, 200, 100]);
    /// ```
    pub fn new(weights: &[f64]) -> Self {
        let mut schedule = Self {
            weights: weights.to_vec(),
            ..Self::default()
        };
        schedule.rescale();
        schedule
    }

    /// Starts at position `seq` of the sequence of tries (endpoint `seq mod n` of round
    /// `seq / n`) instead of 0, so that instances built from the same weights, one per
    /// worker, do not pick in lockstep. Any `u64` will do, a random one for instance;
    /// shares over a cycle are the same from any start.
    ///
    /// ```
    /// use switchyard_policy_sdk::StrideScheduler;
    ///
    /// let mut a = StrideScheduler::new(&[1.0, 1.0, 1.0]);
    /// let mut b = StrideScheduler::new(&[1.0, 1.0, 1.0]).with_offset(2);
    /// assert_eq!((a.pick(), b.pick()), (Some(0), Some(2)));
    /// ```
    pub fn with_offset(mut self, seq: u64) -> Self {
        let n = self.units.len() as u64;
        if n > 0 {
            self.next = (seq % n) as usize;
            self.round = ((seq / n) % u64::from(self.max)) as u32;
        }
        self
    }

    /// The next endpoint, in expected O(1) (see [the type](StrideScheduler) for the
    /// bound); `None` when there are no endpoints.
    ///
    /// ```
    /// use switchyard_policy_sdk::StrideScheduler;
    ///
    /// let mut schedule = StrideScheduler::new(&[2.0, 1.0]);
    /// let picks: Vec<_> = (0..6).filter_map(|_| schedule.pick()).collect();
    /// assert_eq!(picks, [0, 1, 0, 0, 1, 0]);
    /// assert_eq!(StrideScheduler::new(&[]).pick(), None);
    /// ```
    pub fn pick(&mut self) -> Option<usize> {
        let n = self.units.len();
        if n == 0 {
            return None;
        }
        let max = self.max;
        loop {
            let i = self.next;
            let units = match self.units[i] {
                0 => self.mean,
                u => u32::from(u),
            };
            // At most 65,535 × 65,534 + 65,534: no overflow.
            let taken = (units * self.round + phase(i, max)) % max >= max - units;
            self.next += 1;
            if self.next == n {
                self.next = 0;
                self.round += 1;
                if self.round == max {
                    self.round = 0;
                }
            }
            if taken {
                return Some(i);
            }
        }
    }

    /// Changes the weight of endpoint `index` (< [`len`](StrideScheduler::len), else
    /// panics), keeping the position in the sequence.
    ///
    /// O(1) while the largest weight holds. All weights are scaled again, in O(n), when
    /// the new weight is above the largest one, when it lowers the last endpoint at the
    /// largest weight, or when whole-number weights (used as they are) meet a
    /// fraction, a fractional mean for an unknown weight, or the first known weight. A
    /// policy that refreshes weights as reports arrive calls this for the endpoint
    /// reported; when most weights change at once, [`new`](StrideScheduler::new) costs
    /// the same.
    ///
    /// ```
    /// use switchyard_policy_sdk::StrideScheduler;
    ///
    /// let mut schedule = StrideScheduler::new(&[4.0, 1.0, 1.0]);
    /// schedule.set_weight(1, 3.0);
    /// let mut counts = [0; 3];
    /// for _ in 0..80 {
    ///     counts[schedule.pick().unwrap()] += 1;
    /// }
    /// assert_eq!(counts, [40, 30, 10]);
    /// ```
    pub fn set_weight(&mut self, index: usize, weight: f64) {
        self.weights[index] = weight;
        let units = match known(weight) {
            None if self.known == 0 => return,
            None => 0,
            Some(w) if self.known == 0 || w > self.top || (self.whole && w.fract() != 0.0) => {
                return self.rescale();
            }
            Some(w) => scaled(w, self.whole, self.top, self.max),
        };
        let old = self.units[index];
        if old != 0 {
            self.known_sum -= u64::from(old);
            self.known -= 1;
            self.at_max -= usize::from(u32::from(old) == self.max);
        }
        if units != 0 {
            self.known_sum += u64::from(units);
            self.known += 1;
            self.at_max += usize::from(u32::from(units) == self.max);
        }
        self.units[index] = units;
        let fractional_mean = self.whole
            && self.known < self.units.len()
            && !self.known_sum.is_multiple_of(self.known as u64);
        if self.known == 0 || self.at_max == 0 || fractional_mean {
            return self.rescale();
        }
        self.mean = mean(self.known_sum, self.known);
    }

    /// The average number of tries a pick takes: the largest weight over the mean
    /// weight (in units), between 1 and [`len`](StrideScheduler::len); 0 when empty.
    ///
    /// ```
    /// use switchyard_policy_sdk::StrideScheduler;
    ///
    /// assert_eq!(StrideScheduler::new(&[2.0, 2.0]).expected_tries(), 1.0);
    /// assert_eq!(StrideScheduler::new(&[3.0, 2.0, 1.0, 4.0]).expected_tries(), 1.6);
    /// ```
    pub fn expected_tries(&self) -> f64 {
        let n = self.units.len();
        if n == 0 {
            return 0.0;
        }
        let total = self.known_sum + (n - self.known) as u64 * u64::from(self.mean);
        (n as u64 * u64::from(self.max)) as f64 / total as f64
    }

    /// How many endpoints the scheduler picks from.
    ///
    /// ```
    /// use switchyard_policy_sdk::StrideScheduler;
    ///
    /// assert_eq!(StrideScheduler::new(&[1.0, 0.0, 2.0]).len(), 3);
    /// ```
    pub fn len(&self) -> usize {
        self.units.len()
    }

    /// True when there is no endpoint: [`pick`](StrideScheduler::pick) answers `None`.
    ///
    /// ```
    /// use switchyard_policy_sdk::StrideScheduler;
    ///
    /// assert!(StrideScheduler::new(&[]).is_empty());
    /// assert!(StrideScheduler::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.units.is_empty()
    }

    /// Converts every weight to units again, keeping the position; O(n).
    fn rescale(&mut self) {
        let n = self.weights.len();
        let (mut known_count, mut top, mut whole, mut whole_sum) = (0usize, 0.0f64, true, 0u64);
        for w in self.weights.iter().filter_map(|&w| known(w)) {
            known_count += 1;
            top = top.max(w);
            whole &= w.fract() == 0.0 && w <= f64::from(FULL);
            if whole {
                whole_sum += w as u64;
            }
        }
        if known_count < n && known_count > 0 && whole {
            whole = whole_sum.is_multiple_of(known_count as u64);
        }
        self.units.clear();
        if known_count == 0 {
            // Nothing known: every endpoint at the mean, 1 unit of 1.
            self.units.resize(n, 0);
            (self.whole, self.top, self.max, self.mean) = (true, 1.0, 1, 1);
            (self.known_sum, self.known, self.at_max) = (0, 0, 0);
        } else {
            self.whole = whole;
            self.top = top;
            self.max = if whole { top as u32 } else { FULL };
            let (whole, max) = (self.whole, self.max);
            self.units.extend(
                self.weights
                    .iter()
                    .map(|&w| known(w).map_or(0, |w| scaled(w, whole, top, max))),
            );
            self.known = known_count;
            self.known_sum = self.units.iter().map(|&u| u64::from(u)).sum();
            self.at_max = self.units.iter().filter(|&&u| u32::from(u) == max).count();
            self.mean = mean(self.known_sum, self.known);
        }
        self.round %= self.max;
        if self.next >= n {
            self.next = 0;
        }
    }
}

/// A known weight in units: as it is when `whole`, else scaled so that `top` is
/// `max`; at least 1.
fn scaled(weight: f64, whole: bool, top: f64, max: u32) -> u16 {
    let units = if whole {
        weight
    } else {
        (weight / top * f64::from(max)).round()
    };
    // Saturating conversion, then within 1..=max (max ≤ u16::MAX).
    (units as u32).clamp(1, max) as u16
}

/// The mean of `count` (> 0) known weights summing to `sum` units, rounded, at least 1.
fn mean(sum: u64, count: usize) -> u32 {
    let count = count as u64;
    ((sum + count / 2) / count).max(1) as u32
}

/// Endpoint `i`'s phase in `0..max`: the fractional part of `i` × the golden ratio,
/// scaled to `max`, so that neighbours of equal weight skip different rounds.
fn phase(i: usize, max: u32) -> u32 {
    let fraction = (i as u32).wrapping_mul(0x9e37_79b9);
    ((u64::from(fraction) * u64::from(max)) >> 32) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A repeatable stream of random numbers (splitmix64).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            crate::hash::mix64(self.0)
        }
    }

    /// The exact probability of each index, read off the table.
    fn exact(table: &AliasTable) -> Vec<f64> {
        let n = table.len() as f64;
        let mut p = vec![0.0; table.len()];
        for (i, b) in table.buckets.iter().enumerate() {
            let own = if b.alias == i {
                1.0
            } else {
                b.threshold as f64 / 18_446_744_073_709_551_616.0
            };
            p[i] += own / n;
            p[b.alias] += (1.0 - own) / n;
        }
        p
    }

    /// The probabilities the weights ask for (`weighted_index` semantics).
    fn expected(weights: &[f64]) -> Vec<f64> {
        let total: f64 = weights.iter().filter(|w| **w > 0.0).sum();
        if total == 0.0 {
            return vec![1.0 / weights.len() as f64; weights.len()];
        }
        weights
            .iter()
            .map(|&w| if w > 0.0 { w / total } else { 0.0 })
            .collect()
    }

    /// Samples `draws` times and returns the counts.
    fn sample(table: &AliasTable, draws: usize, seed: u64) -> Vec<usize> {
        let mut rng = Rng(seed);
        let mut counts = vec![0; table.len()];
        for _ in 0..draws {
            counts[table.sample(rng.next()).unwrap()] += 1;
        }
        counts
    }

    /// Pearson's chi-square statistic of `counts` against probabilities `p`, over the
    /// indexes that may be chosen, and its degrees of freedom.
    fn chi_square(counts: &[usize], p: &[f64]) -> (f64, usize) {
        let draws: usize = counts.iter().sum();
        let mut stat = 0.0;
        let mut cells = 0;
        for (&c, &p) in counts.iter().zip(p) {
            if p == 0.0 {
                assert_eq!(c, 0, "a never-chosen index was chosen");
                continue;
            }
            let e = p * draws as f64;
            stat += (c as f64 - e).powi(2) / e;
            cells += 1;
        }
        (stat, cells - 1)
    }

    /// Chi-square within 6 standard deviations of its mean: fails only on a real bias
    /// (inputs are fixed, so the test is repeatable anyway).
    fn assert_fits(counts: &[usize], p: &[f64]) {
        let (stat, df) = chi_square(counts, p);
        let bound = df as f64 + 6.0 * (2.0 * df as f64).sqrt() + 10.0;
        assert!(
            stat < bound,
            "chi-square {stat:.1} with {df} degrees of freedom"
        );
    }

    fn assert_exact(weights: &[f64]) {
        let table = AliasTable::new(weights);
        let got = exact(&table);
        for (i, (g, e)) in got.iter().zip(expected(weights)).enumerate() {
            assert!((g - e).abs() < 1e-12, "index {i}: {g} instead of {e}");
            if e == 0.0 {
                assert_eq!(*g, 0.0, "index {i} has weight 0");
            }
        }
    }

    #[test]
    fn alias_probabilities_are_the_weights() {
        assert_exact(&[3.0, 1.0, 0.0]);
        assert_exact(&[1.0, 1000.0]);
        assert_exact(&[1.0; 37]);
        assert_exact(&[0.0, 5.0, -2.0, f64::NAN, 5.0, 0.25]);
        assert_exact(&[1e-300, 1e300, 1.0]);
        assert_exact(&[0.0, 0.0, 0.0]);
        let mut rng = Rng(7);
        let random: Vec<f64> = (0..1_000).map(|_| unit(rng.next()) * 100.0).collect();
        assert_exact(&random);
    }

    fn unit(bits: u64) -> f64 {
        (bits >> 11) as f64 / (1u64 << 53) as f64
    }

    #[test]
    fn alias_skewed_weights() {
        let weights = [1.0, 1000.0];
        let table = AliasTable::new(&weights);
        let counts = sample(&table, 1_001_000, 1);
        assert_fits(&counts, &expected(&weights));
        assert!((800..1_200).contains(&counts[0]), "{counts:?}");
    }

    #[test]
    fn alias_many_equal_weights() {
        let weights = vec![2.5; 500];
        let table = AliasTable::new(&weights);
        let counts = sample(&table, 500_000, 2);
        assert_fits(&counts, &expected(&weights));
    }

    #[test]
    fn alias_never_chooses_weights_that_do_not_count() {
        let weights = [1.0, 0.0, 2.0, -1.0, f64::NAN, 3.0];
        let table = AliasTable::new(&weights);
        let counts = sample(&table, 120_000, 3);
        assert_eq!((counts[1], counts[3], counts[4]), (0, 0, 0), "{counts:?}");
        assert_fits(&counts, &expected(&weights));
        // Extreme random numbers stay in range and avoid the zero weights.
        for r in [0, 1, u64::MAX, u64::MAX - 1, u64::MAX / 6, u64::MAX / 3] {
            assert!([0, 2, 5].contains(&table.sample(r).unwrap()));
        }
        // An infinite weight takes everything.
        let table = AliasTable::new(&[1.0, f64::INFINITY, 2.0]);
        let p = exact(&table);
        assert!(
            p[0] == 0.0 && p[2] == 0.0 && (p[1] - 1.0).abs() < 1e-12,
            "{p:?}"
        );
    }

    #[test]
    fn alias_uniform_when_no_weight_counts() {
        let weights = [0.0, -3.0, f64::NAN, 0.0];
        let table = AliasTable::new(&weights);
        let counts = sample(&table, 40_000, 4);
        assert_fits(&counts, &[0.25; 4]);
        assert!(AliasTable::new(&[]).sample(5).is_none());
        assert_eq!(AliasTable::new(&[0.0]).sample(u64::MAX), Some(0));
    }

    #[test]
    fn alias_ten_thousand_endpoints() {
        let mut rng = Rng(5);
        let weights: Vec<f64> = (0..10_000)
            .map(|_| 1.0 + (rng.next() % 100) as f64)
            .collect();
        assert_exact(&weights);
        let table = AliasTable::new(&weights);
        let counts = sample(&table, 2_000_000, 6);
        assert_fits(&counts, &expected(&weights));
    }

    /// Picks `picks` times and counts.
    fn picks(schedule: &mut StrideScheduler, picks: usize) -> Vec<usize> {
        let mut counts = vec![0; schedule.len()];
        for _ in 0..picks {
            counts[schedule.pick().unwrap()] += 1;
        }
        counts
    }

    #[test]
    fn stride_equal_weights_are_round_robin() {
        let mut schedule = StrideScheduler::new(&[7.0; 5]);
        let order: Vec<usize> = (0..10).map(|_| schedule.pick().unwrap()).collect();
        assert_eq!(order, [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]);
        assert_eq!(schedule.expected_tries(), 1.0);
        let mut uniform = StrideScheduler::new(&[0.0, f64::NAN, -1.0]);
        assert_eq!(picks(&mut uniform, 300), [100, 100, 100]);
        assert_eq!(StrideScheduler::new(&[]).pick(), None);
    }

    #[test]
    fn stride_whole_weights_are_exact_per_cycle() {
        let mut schedule = StrideScheduler::new(&[3.0, 2.0, 1.0, 4.0]);
        for _ in 0..100 {
            assert_eq!(picks(&mut schedule, 10), [3, 2, 1, 4]);
        }
        let mut skewed = StrideScheduler::new(&[1.0, 1000.0]);
        for _ in 0..10 {
            assert_eq!(picks(&mut skewed, 1001), [1, 1000]);
        }
        // Any start: a cycle's worth of picks is still exact.
        for seq in [1, 17, u64::MAX, 123_456_789] {
            let mut s = StrideScheduler::new(&[3.0, 2.0, 1.0, 4.0]).with_offset(seq);
            assert_eq!(picks(&mut s, 10), [3, 2, 1, 4], "offset {seq}");
        }
    }

    #[test]
    fn stride_fractional_weights_follow_shares() {
        let weights = [1.5, 0.25, 3.0, 2.75];
        let total: f64 = weights.iter().sum();
        let mut schedule = StrideScheduler::new(&weights);
        let n = 100_000;
        let counts = picks(&mut schedule, n);
        for (c, w) in counts.iter().zip(weights) {
            let e = w / total * n as f64;
            assert!((*c as f64 - e).abs() <= 2.0, "{counts:?}");
        }
    }

    #[test]
    fn stride_unknown_weights_get_the_mean() {
        let mut schedule = StrideScheduler::new(&[2.0, 0.0, 4.0, f64::NAN]);
        assert_eq!(picks(&mut schedule, 1_200), [200, 300, 400, 300]);
        // A fractional mean (1.5) is scaled, not rounded to whole units.
        let mut schedule = StrideScheduler::new(&[1.0, 2.0, -1.0]);
        let counts = picks(&mut schedule, 45_000);
        assert!(
            counts
                .iter()
                .zip([10_000, 20_000, 15_000])
                .all(|(c, e)| c.abs_diff(e) <= 2),
            "{counts:?}"
        );
    }

    #[test]
    fn stride_ten_thousand_endpoints() {
        let mut rng = Rng(8);
        let weights: Vec<f64> = (0..10_000)
            .map(|_| 1.0 + (rng.next() % 10) as f64)
            .collect();
        let total: usize = weights.iter().map(|&w| w as usize).sum();
        let mut schedule = StrideScheduler::new(&weights);
        assert!(schedule.expected_tries() < 2.0);
        // Whole weights: one cycle (10 rounds) is exact.
        let counts = picks(&mut schedule, total);
        assert!(counts.iter().zip(&weights).all(|(&c, &w)| c == w as usize));
        // Fractional ones: within a pick or two of the share.
        let weights: Vec<f64> = weights.iter().map(|w| w * 0.37).collect();
        let total: f64 = weights.iter().sum();
        let mut schedule = StrideScheduler::new(&weights);
        let n = 500_000;
        let counts = picks(&mut schedule, n);
        for (c, w) in counts.iter().zip(&weights) {
            let e = w / total * n as f64;
            assert!((*c as f64 - e).abs() <= 2.5, "{c} instead of {e}");
        }
    }

    /// Checks that no endpoint gets more than `ceil(share × k) + slack` of any `k`
    /// consecutive picks, over `picks` picks.
    fn assert_spread(weights: &[f64], slack: usize, picks: usize) {
        let total: f64 = weights.iter().sum();
        let mut schedule = StrideScheduler::new(weights);
        let seq: Vec<usize> = (0..picks).map(|_| schedule.pick().unwrap()).collect();
        for k in [2, 3, 5, 10, 50, 1_000] {
            let mut window = vec![0usize; weights.len()];
            for (j, &i) in seq.iter().enumerate() {
                window[i] += 1;
                if j >= k {
                    window[seq[j - k]] -= 1;
                }
                let bound = (weights[i] / total * k as f64).ceil() as usize + slack;
                assert!(
                    window[i] <= bound,
                    "{weights:?}: endpoint {i} picked {} times in {k} picks",
                    window[i]
                );
            }
        }
    }

    #[test]
    fn stride_spreads_picks() {
        for weights in [
            vec![5.0, 1.0, 1.0],
            vec![3.0, 2.0, 1.0, 4.0],
            vec![1.0, 1000.0],
            vec![10.0, 9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0],
            vec![0.7, 2.3, 1.1, 5.9, 0.2],
        ] {
            assert_spread(&weights, 1, 20_000);
        }
        // Many light endpoints: their phases (a golden-ratio sequence) leave gaps of up
        // to three sizes between them, so the heavy one may run one pick further.
        let mut skewed = vec![1.0; 100];
        skewed[40] = 300.0;
        assert_spread(&skewed, 2, 20_000);
    }

    #[test]
    fn stride_set_weight() {
        // Below the maximum: O(1), same as a new scheduler.
        let mut schedule = StrideScheduler::new(&[4.0, 1.0, 1.0]);
        schedule.set_weight(1, 3.0);
        assert_eq!(picks(&mut schedule, 8), [4, 3, 1]);
        assert_eq!((schedule.max, schedule.at_max), (4, 1));
        // A new maximum scales again.
        schedule.set_weight(2, 8.0);
        assert_eq!(picks(&mut schedule, 150), [40, 30, 80]);
        // Lowering the only maximum scales again (fewer tries).
        schedule.set_weight(2, 2.0);
        assert_eq!(schedule.max, 4);
        assert_eq!(picks(&mut schedule, 90), [40, 30, 20]);
        // Unknown: the mean of the others (3.5), fractional, so scaled to 65,535.
        schedule.set_weight(2, 0.0);
        assert!(!schedule.whole);
        let counts = picks(&mut schedule, 105_000);
        assert!(
            counts
                .iter()
                .zip([40_000, 30_000, 35_000])
                .all(|(c, e)| c.abs_diff(e) <= 2),
            "{counts:?}"
        );
        // Whole again, and a fraction: scaled.
        let mut schedule = StrideScheduler::new(&[2.0, 2.0]);
        schedule.set_weight(0, 0.5);
        let counts = picks(&mut schedule, 50_000);
        assert!(counts[0].abs_diff(10_000) <= 2, "{counts:?}");
        // From nothing known to one known weight.
        let mut schedule = StrideScheduler::new(&[0.0, 0.0]);
        schedule.set_weight(0, 0.0);
        schedule.set_weight(1, 3.0);
        assert_eq!(picks(&mut schedule, 60), [30, 30]);
        schedule.set_weight(0, 1.0);
        assert_eq!(picks(&mut schedule, 40), [10, 30]);
        // Back to nothing known: uniform.
        schedule.set_weight(0, -1.0);
        schedule.set_weight(1, f64::NAN);
        assert_eq!(picks(&mut schedule, 60), [30, 30]);
    }

    #[test]
    fn stride_set_weight_matches_a_new_scheduler() {
        let mut rng = Rng(9);
        let mut weights: Vec<f64> = (0..50).map(|_| unit(rng.next()) * 10.0).collect();
        let mut schedule = StrideScheduler::new(&weights);
        for step in 0..2_000 {
            let i = (rng.next() % 50) as usize;
            let w = match step % 7 {
                0 => 0.0,
                1 => 12.0 * unit(rng.next()),
                _ => 10.0 * unit(rng.next()),
            };
            weights[i] = w;
            schedule.set_weight(i, w);
            let fresh = StrideScheduler::new(&weights);
            // Same units as a fresh build up to the rounding of a scale kept longer.
            assert!(schedule.at_max >= 1);
            assert!((schedule.expected_tries() - fresh.expected_tries()).abs() < 1.0);
            for (a, b) in schedule.units.iter().zip(&fresh.units) {
                let (a, b) = (
                    f64::from(*a) / f64::from(schedule.max),
                    f64::from(*b) / f64::from(fresh.max),
                );
                assert!((a - b).abs() < 1e-4, "step {step}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn stride_tries_are_bounded() {
        // One endpoint with nearly all the weight: at most n tries a pick.
        let mut weights = vec![1.0; 1_000];
        weights[500] = 1_000_000.0;
        let mut schedule = StrideScheduler::new(&weights);
        assert!(schedule.expected_tries() <= 1_000.0);
        let mut last = schedule.next + schedule.round as usize * 1_000;
        for _ in 0..5_000 {
            schedule.pick();
            let now = schedule.next + schedule.round as usize * 1_000;
            let tries =
                (now + 1_000 * schedule.max as usize - last) % (1_000 * schedule.max as usize);
            assert!((1..=1_000).contains(&tries), "{tries} tries");
            last = now;
        }
    }
}
