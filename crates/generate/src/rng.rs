//! The generator's own pseudo-random numbers: SplitMix64, with every draw
//! built from integer arithmetic and IEEE-754 `+ - * /` only, so the same seed
//! gives the same numbers on every platform and every future Rust release (no
//! `ln`, `exp` or `cos`, whose last bit may differ between math libraries).

const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// The SplitMix64 output function: a bijective 64-bit mixer.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Which kind of entity a random stream belongs to.
#[derive(Clone, Copy)]
pub(crate) enum Tag {
    World = 1,
    Registration = 2,
    Patient = 3,
    Allocation = 4,
    Test = 5,
    LatePatient = 6,
}

#[derive(Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// The stream of one entity (a patient, a test, ...): independent of how
    /// many other entities there are and of the order they are generated in.
    pub(crate) fn stream(seed: u64, tag: Tag, index: u64) -> Rng {
        let s = mix(seed ^ mix((tag as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93)));
        Rng(mix(s ^ index
            .wrapping_mul(0xA076_1D64_78BD_642F)
            .wrapping_add(GAMMA)))
    }

    #[inline]
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GAMMA);
        mix(self.0)
    }

    /// Uniform in [0, 1), 53 bits.
    #[inline]
    pub(crate) fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in 0..n (n > 0).
    #[inline]
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform index into a slice of length n (n > 0).
    #[inline]
    pub(crate) fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// Uniform in lo..=hi.
    #[inline]
    pub(crate) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    #[inline]
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// A standard normal deviate, approximated by the Irwin–Hall sum of twelve
    /// uniforms (mean 0, variance 1, bounded by ±6): integer arithmetic then one
    /// exact conversion, so it is bit-identical everywhere.
    pub(crate) fn normal(&mut self) -> f64 {
        const BITS: u32 = 21;
        const MASK: u64 = (1 << BITS) - 1;
        let mut sum: u64 = 0;
        for _ in 0..4 {
            let x = self.next_u64();
            sum += (x & MASK) + ((x >> BITS) & MASK) + ((x >> (2 * BITS)) & MASK);
        }
        // Each part is uniform on 0..2^21 with mean (2^21 - 1) / 2.
        (sum as f64 - 6.0 * MASK as f64) / (1u64 << BITS) as f64
    }

    /// An index drawn with the given cumulative weights (last = total).
    pub(crate) fn pick_cumulative(&mut self, cumulative: &[f64]) -> usize {
        let total = cumulative[cumulative.len() - 1];
        let x = self.f64() * total;
        cumulative
            .partition_point(|c| *c <= x)
            .min(cumulative.len() - 1)
    }
}
