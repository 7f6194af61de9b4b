//! The sandbox's clock source: what both the vDSO (through the [vvar]
//! page) and the clock syscalls read, so the two always agree.
//!
//! The clocks the vDSO serves (REALTIME, MONOTONIC, MONOTONIC_RAW, the
//! two _COARSE ones, BOOTTIME, TAI) are all computed from the TSC, which
//! a guest reads natively in ring 3 (`rdtsc`, about 9 ns here; the guest
//! sees the host's value, with no offset: measured when this was written,
//! and checked by the vDSO tests, which compare the guest's clocks with
//! the syscall's):
//!
//! ```text
//! ns(clock) = base_ns[clock] + ((tsc - tsc_base) * mult) >> SHIFT   (128-bit product)
//! ```
//!
//! * The sentry calibrates the TSC against the host's CLOCK_MONOTONIC
//!   when the clock is first used (1 ms), then a refresher thread
//!   re-anchors the parameters at 10 ms, 40 ms, 160 ms, 640 ms and every
//!   second after: each time it keeps the clock continuous at the anchor
//!   (the new base is the old formula's value there) and sets the rate to
//!   the long-run measured TSC rate, slewed by at most ±500 ppm so that
//!   the sandbox's MONOTONIC converges on the host's (as NTP slews
//!   Linux's). The clock therefore never steps and never goes backwards,
//!   on any vCPU (the host trusts its TSCs to be synchronized: its clock
//!   source is `tsc` on an invariant-TSC CPU), in any process.
//! * REALTIME, BOOTTIME and TAI are MONOTONIC plus the host's offsets
//!   (REALTIME − MONOTONIC and so on), which change only when the host's
//!   clock is stepped (or suspended): the refresher follows a change of
//!   more than 1 ms, so a host clock step reaches the sandbox within a
//!   second. MONOTONIC_RAW shares MONOTONIC's rate. The _COARSE clocks
//!   read as of the last tick, as Linux's: the fine value with MONOTONIC
//!   truncated to a multiple of the 4 ms tick (HZ=250, the resolution
//!   clock_getres reports for them), so a coarse clock is never ahead of
//!   its fine clock, never goes back, and both coarse clocks tick at the
//!   same instants. The tick is implicit (a grid of MONOTONIC): nothing
//!   has to run to publish it, and the vDSO and the syscall compute the
//!   same value.
//! * When the TSC is unusable (the CPU does not report it invariant, or
//!   the calibration fails) the sentry logs why once, the [vvar] page
//!   serves no clock, the vDSO makes the real syscall for every clock and
//!   [`VClock::now`] returns `None` (the syscalls read the host's clocks).
//!   Setting [`NO_TSC_ENV`] in the sentry's environment forces this (for
//!   the tests).
//!
//! The [vvar] page layout is `sentry/vdso/vvar.h`'s `struct vvar_data`;
//! every live page ([`VvarPage`], one per sandbox) is rewritten under its
//! sequence lock at each refresh.

use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use platform::Platform;
use platform::tsc::rdtsc_ordered;
use rustix::time::{ClockId, DynamicClockId};

use crate::mm::SharedMemory;

/// `clockid_t` values the page serves.
pub const CLOCK_REALTIME: i32 = 0;
/// CLOCK_MONOTONIC.
pub const CLOCK_MONOTONIC: i32 = 1;
/// CLOCK_MONOTONIC_RAW.
pub const CLOCK_MONOTONIC_RAW: i32 = 4;
/// CLOCK_REALTIME_COARSE.
pub const CLOCK_REALTIME_COARSE: i32 = 5;
/// CLOCK_MONOTONIC_COARSE.
pub const CLOCK_MONOTONIC_COARSE: i32 = 6;
/// CLOCK_BOOTTIME.
pub const CLOCK_BOOTTIME: i32 = 7;
/// CLOCK_TAI.
pub const CLOCK_TAI: i32 = 11;

/// The clocks computed from the TSC (bits of the page's `clock_mask`).
const SERVED: [i32; 7] = [
    CLOCK_REALTIME,
    CLOCK_MONOTONIC,
    CLOCK_MONOTONIC_RAW,
    CLOCK_REALTIME_COARSE,
    CLOCK_MONOTONIC_COARSE,
    CLOCK_BOOTTIME,
    CLOCK_TAI,
];

/// Clock slots in the page (`VVAR_CLOCKS`).
const CLOCKS: usize = 16;
/// Fixed-point shift of `mult` (ns per tick × 2^SHIFT).
const SHIFT: u32 = 32;
/// Size of `struct vvar_data`.
pub const VVAR_SIZE: usize = 800;
/// Offset of `cpu_of_host` (getcpu's table, `super::cpus::vvar_table`).
const CPU_TABLE: usize = 288;
/// Resolution clock_getres reports for the _COARSE clocks (the 4 ms tick
/// of a HZ=250 kernel), and 1 ns for the others.
pub const COARSE_RES_NS: u64 = 4_000_000;
/// Largest slew of the rate away from the measured TSC rate.
const MAX_SLEW: f64 = 500e-6;
/// An offset change (REALTIME − MONOTONIC...) larger than this is a host
/// clock step that the sandbox follows.
const STEP_NS: i64 = 1_000_000;
/// When the refresher re-anchors after the first calibration, then every
/// [`REFRESH`].
const EARLY_REFRESH_MS: [u64; 4] = [10, 40, 160, 640];
/// The refresher's period once calibrated.
const REFRESH: Duration = Duration::from_secs(1);

/// The sentry's environment variable that makes it treat the TSC as
/// unusable (to test the fallback to the syscall on any host).
pub const NO_TSC_ENV: &str = "SENTRY_VCLOCK_NO_TSC";

/// The parameters of the formula, as published.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Params {
    tsc_base: u64,
    mult: u64,
    /// MONOTONIC at `tsc_base`, in ns.
    mono_base: u64,
    /// REALTIME − MONOTONIC, BOOTTIME − MONOTONIC, TAI − MONOTONIC (ns).
    real_off: i64,
    boot_off: i64,
    tai_off: i64,
}

impl Params {
    /// MONOTONIC at `tsc`.
    fn mono_at(&self, tsc: u64) -> u64 {
        let delta = tsc.saturating_sub(self.tsc_base);
        self.mono_base + ((u128::from(delta) * u128::from(self.mult)) >> SHIFT) as u64
    }

    /// `base_ns[clock]`, or `None` for a clock the page does not serve.
    fn base(&self, clock: i32) -> Option<u64> {
        let off = match clock {
            CLOCK_REALTIME | CLOCK_REALTIME_COARSE => self.real_off,
            CLOCK_MONOTONIC | CLOCK_MONOTONIC_RAW | CLOCK_MONOTONIC_COARSE => 0,
            CLOCK_BOOTTIME => self.boot_off,
            CLOCK_TAI => self.tai_off,
            _ => return None,
        };
        Some(self.mono_base.wrapping_add_signed(off))
    }

    /// The value of `clock` at `tsc` (the vDSO's computation, exactly).
    /// A _COARSE clock is its fine clock as of the last tick: MONOTONIC
    /// truncated to a multiple of [`COARSE_RES_NS`], plus the clock's
    /// offset (so REALTIME_COARSE and MONOTONIC_COARSE tick together, as
    /// Linux updates both at the tick).
    fn value(&self, clock: i32, tsc: u64) -> Option<u64> {
        let delta = tsc.saturating_sub(self.tsc_base);
        let base = self.base(clock)?;
        let scaled = ((u128::from(delta) * u128::from(self.mult)) >> SHIFT) as u64;
        if is_coarse(clock) {
            let mono = self.mono_base + scaled;
            let off = base.wrapping_sub(self.mono_base);
            return Some(off.wrapping_add(mono - mono % COARSE_RES_NS));
        }
        Some(base + scaled)
    }
}

/// Whether `clock` is one of the _COARSE clocks (read as of the last tick).
fn is_coarse(clock: i32) -> bool {
    matches!(clock, CLOCK_REALTIME_COARSE | CLOCK_MONOTONIC_COARSE)
}

/// The bytes of `struct vvar_data` for `params` (`None`: the TSC is
/// unusable, no clock served), without the sequence counter's value.
fn encode(params: Option<&Params>) -> [u8; VVAR_SIZE] {
    let mut b = [0u8; VVAR_SIZE];
    for (i, cpu) in super::cpus::vvar_table().into_iter().enumerate() {
        b[CPU_TABLE + 2 * i..CPU_TABLE + 2 * i + 2].copy_from_slice(&cpu.to_le_bytes());
    }
    let Some(p) = params else {
        return b;
    };
    let mask = SERVED.iter().fold(0u32, |m, &c| m | 1 << c);
    b[4..8].copy_from_slice(&mask.to_le_bytes());
    b[8..16].copy_from_slice(&p.tsc_base.to_le_bytes());
    b[16..24].copy_from_slice(&p.mult.to_le_bytes());
    b[24..28].copy_from_slice(&SHIFT.to_le_bytes());
    for clock in 0..CLOCKS {
        let (base, res) = match p.base(clock as i32) {
            Some(base) => (
                base,
                if is_coarse(clock as i32) {
                    COARSE_RES_NS
                } else {
                    1
                },
            ),
            None => (0, 0),
        };
        b[32 + 8 * clock..40 + 8 * clock].copy_from_slice(&base.to_le_bytes());
        b[160 + 8 * clock..168 + 8 * clock].copy_from_slice(&res.to_le_bytes());
    }
    b
}

/// One sandbox's [vvar] page: a frame of its platform, mapped read-only
/// into every process, that the clock rewrites.
pub struct VvarPage {
    machine: Arc<dyn Platform>,
    /// Holds the frame (one reference) for as long as the page lives.
    _object: Arc<SharedMemory>,
    frame: u64,
}

impl VvarPage {
    /// The page of `frame`, held by `object` (a one-page object of
    /// `machine`).
    pub fn new(machine: Arc<dyn Platform>, object: Arc<SharedMemory>, frame: u64) -> Self {
        Self {
            machine,
            _object: object,
            frame,
        }
    }

    fn publish(&self, bytes: &[u8; VVAR_SIZE]) {
        let written =
            self.machine
                .memory()
                .write_seqlocked(self.frame, self.frame + 4, &bytes[4..]);
        if let Err(e) = written {
            tracing::error!("vclock: cannot write the [vvar] page: {e}");
        }
    }
}

struct State {
    /// `None` when the TSC is unusable.
    params: Option<Params>,
    /// The first calibration sample (TSC, host MONOTONIC ns): the long-run
    /// rate is measured from it.
    origin: (u64, u64),
    pages: Vec<Weak<VvarPage>>,
}

/// The clock source (one per sentry process: [`global`]).
pub struct VClock {
    state: Mutex<State>,
}

/// The clock source, calibrated on first use.
pub fn global() -> &'static Arc<VClock> {
    static CLOCK: OnceLock<Arc<VClock>> = OnceLock::new();
    CLOCK.get_or_init(|| Arc::new(VClock::calibrate()))
}

/// Starts the thread that keeps the clock source on the host's clocks
/// (once; later calls do nothing). The sentry calls it when it starts its
/// first guest thread, after it has confined itself (which it must do
/// while it has one thread). Without it the clocks stay continuous and
/// only drift from the host's by the first calibration's error.
pub fn start_refresher() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        let clock = global();
        if !clock.usable() {
            return;
        }
        let weak = Arc::downgrade(clock);
        let spawned = std::thread::Builder::new()
            .name("vclock".into())
            .spawn(move || refresher(weak));
        if let Err(e) = spawned {
            tracing::warn!("vclock: cannot start the refresher thread: {e}");
        }
    });
}

/// A host clock the source follows.
#[derive(Clone, Copy, Debug)]
enum Host {
    Monotonic,
    Realtime,
    Boottime,
    Tai,
}

fn host_ns(clock: Host) -> u64 {
    let id = match clock {
        Host::Monotonic => DynamicClockId::Known(ClockId::Monotonic),
        Host::Realtime => DynamicClockId::Known(ClockId::Realtime),
        Host::Boottime => DynamicClockId::Known(ClockId::Boottime),
        Host::Tai => DynamicClockId::Tai,
    };
    // Every clock here exists since Linux 3.10; 0 (an offset that is
    // never applied, see STEP_NS) if not.
    match rustix::time::clock_gettime_dynamic(id) {
        Ok(ts) => (ts.tv_sec as u64).wrapping_mul(1_000_000_000) + ts.tv_nsec as u64,
        Err(_) => 0,
    }
}

/// A (TSC, host clock ns) pair read as close together as possible: the
/// tightest of a few brackets, the TSC taken at its middle.
fn sample(id: Host) -> (u64, u64) {
    let mut best = (u64::MAX, 0, 0);
    for _ in 0..5 {
        let a = rdtsc_ordered();
        let ns = host_ns(id);
        let b = rdtsc_ordered();
        let width = b.wrapping_sub(a);
        if width < best.0 {
            best = (width, a + width / 2, ns);
        }
    }
    (best.1, best.2)
}

/// `other − MONOTONIC` on the host, in ns, read tightly.
fn host_offset(other: Host) -> i64 {
    let mut best = (u64::MAX, 0i64);
    for _ in 0..5 {
        let a = host_ns(Host::Monotonic);
        let o = host_ns(other);
        let b = host_ns(Host::Monotonic);
        if b - a < best.0 {
            best = (b - a, o as i64 - (a + (b - a) / 2) as i64);
        }
    }
    best.1
}

fn mult_for(ns_per_tick: f64) -> u64 {
    (ns_per_tick * (1u64 << SHIFT) as f64).round() as u64
}

impl VClock {
    fn calibrate() -> Self {
        let origin = sample(Host::Monotonic);
        let params = match Self::first_params(origin) {
            Ok(p) => Some(p),
            Err(why) => {
                tracing::warn!(
                    "vclock: the TSC is unusable ({why}): the vDSO makes the syscall for every clock"
                );
                None
            }
        };
        Self {
            state: Mutex::new(State {
                params,
                origin,
                pages: Vec::new(),
            }),
        }
    }

    fn first_params(origin: (u64, u64)) -> Result<Params, String> {
        if std::env::var_os(NO_TSC_ENV).is_some() {
            return Err(format!("{NO_TSC_ENV} is set"));
        }
        if let Some(why) = platform::tsc::tsc_unusable_reason() {
            return Err(why.into());
        }
        // Spin 1 ms: the refresher refines the rate from there.
        while host_ns(Host::Monotonic) < origin.1 + 1_000_000 {
            std::hint::spin_loop();
        }
        let now = sample(Host::Monotonic);
        if now.0 <= origin.0 {
            return Err("the TSC did not advance during calibration".into());
        }
        let ns_per_tick = (now.1 - origin.1) as f64 / (now.0 - origin.0) as f64;
        // 100 MHz to 20 GHz.
        if !(0.05..=10.0).contains(&ns_per_tick) {
            return Err(format!(
                "calibration measured an implausible TSC rate of {:.0} MHz",
                1e3 / ns_per_tick
            ));
        }
        Ok(Params {
            tsc_base: now.0,
            mult: mult_for(ns_per_tick),
            mono_base: now.1,
            real_off: host_offset(Host::Realtime),
            boot_off: host_offset(Host::Boottime),
            tai_off: host_offset(Host::Tai),
        })
    }

    /// Whether the TSC serves the clocks.
    pub fn usable(&self) -> bool {
        self.state.lock().params.is_some()
    }

    /// The current value of `clock` as the vDSO computes it, or `None`
    /// when the TSC does not serve it (another clock, or TSC unusable).
    pub fn now(&self, clock: i32) -> Option<Duration> {
        let Some(params) = self.state.lock().params else {
            // The syscalls' own fallback has no CLOCK_TAI: the host's.
            return (clock == CLOCK_TAI).then(|| Duration::from_nanos(host_ns(Host::Tai)));
        };
        let ns = params.value(clock, rdtsc_ordered())?;
        Some(Duration::from_nanos(ns))
    }

    /// The sandbox's CLOCK_MONOTONIC in ns, as the guest reads it: the TSC
    /// clock, or the host's when the TSC does not serve it.
    pub fn monotonic_ns(&self) -> u64 {
        match self.now(CLOCK_MONOTONIC) {
            Some(d) => d.as_nanos() as u64,
            None => host_ns(Host::Monotonic),
        }
    }

    /// Writes the current parameters into `page` and keeps it up to date
    /// from now on (for as long as it lives).
    pub fn attach(&self, page: &Arc<VvarPage>) {
        let mut state = self.state.lock();
        page.publish(&encode(state.params.as_ref()));
        state.pages.retain(|w| w.strong_count() > 0);
        state.pages.push(Arc::downgrade(page));
    }

    /// Re-anchors the parameters (see the module doc), `next` being the
    /// time until the following refresh, and republishes every page.
    fn refresh(&self, next: Duration) {
        let mut state = self.state.lock();
        let Some(old) = state.params else { return };
        let (tsc, host) = sample(Host::Monotonic);
        let ours = old.mono_at(tsc);
        let origin = state.origin;
        let measured = if tsc > origin.0 && host > origin.1 {
            (host - origin.1) as f64 / (tsc - origin.0) as f64
        } else {
            old.mult as f64 / (1u64 << SHIFT) as f64
        };
        let err = host as f64 - ours as f64;
        let slew = (err / next.as_nanos() as f64).clamp(-MAX_SLEW, MAX_SLEW);
        let mut new = Params {
            tsc_base: tsc,
            mult: mult_for(measured * (1.0 + slew)),
            mono_base: ours,
            ..old
        };
        for (slot, id) in [
            (&mut new.real_off, Host::Realtime),
            (&mut new.boot_off, Host::Boottime),
            (&mut new.tai_off, Host::Tai),
        ] {
            let host_off = host_offset(id);
            if (host_off - *slot).abs() > STEP_NS {
                tracing::debug!(
                    "vclock: the host clock {id:?} stepped by {} ns",
                    host_off - *slot
                );
                *slot = host_off;
            }
        }
        state.params = Some(new);
        let bytes = encode(Some(&new));
        state.pages.retain(|w| match w.upgrade() {
            Some(page) => {
                page.publish(&bytes);
                true
            }
            None => false,
        });
    }
}

fn refresher(clock: Weak<VClock>) {
    let mut schedule = EARLY_REFRESH_MS
        .iter()
        .map(|&ms| Duration::from_millis(ms))
        .collect::<Vec<_>>()
        .into_iter();
    let mut wait = schedule.next().unwrap_or(REFRESH);
    loop {
        std::thread::sleep(wait);
        let next = schedule.next().unwrap_or(REFRESH);
        match clock.upgrade() {
            Some(c) => c.refresh(next),
            None => return,
        }
        wait = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Params {
        Params {
            tsc_base: 1_000_000,
            // 0.5 ns per tick (2 GHz).
            mult: 1 << (SHIFT - 1),
            mono_base: 5_000_000_000,
            real_off: 1_700_000_000_000_000_000,
            boot_off: 7,
            tai_off: 1_700_000_037_000_000_000,
        }
    }

    #[test]
    fn the_formula_scales_ticks_and_adds_each_clocks_base() {
        let p = params();
        assert_eq!(p.value(CLOCK_MONOTONIC, 1_000_000), Some(5_000_000_000));
        assert_eq!(p.value(CLOCK_MONOTONIC, 3_000_000), Some(5_001_000_000));
        assert_eq!(
            p.value(CLOCK_REALTIME, 3_000_000),
            Some(1_700_000_005_001_000_000)
        );
        assert_eq!(p.value(CLOCK_BOOTTIME, 1_000_000), Some(5_000_000_007));
        assert_eq!(
            p.value(CLOCK_MONOTONIC_RAW, 3_000_000),
            p.value(CLOCK_MONOTONIC, 3_000_000)
        );
        // A TSC below the base (never on synchronized TSCs) reads the base.
        assert_eq!(p.value(CLOCK_MONOTONIC, 5), Some(5_000_000_000));
        // CPU-time clocks and unknown ones are not served.
        for c in [2, 3, 8, 9, 10, 12, -1, 16, 1000] {
            assert_eq!(p.value(c, 3_000_000), None, "clock {c}");
        }
        // Years of ticks do not overflow (128-bit product).
        let far = p.tsc_base + 2_000_000_000 * 3600 * 24 * 365 * 10;
        assert!(p.value(CLOCK_MONOTONIC, far).unwrap() > 315_000_000_000_000_000);
    }

    #[test]
    fn coarse_clocks_read_as_of_the_last_tick() {
        let p = params();
        // 20 M ticks at 2 GHz: MONOTONIC 5.010 s, the tick before 5.008 s.
        let tsc = 1_000_000 + 20_000_000;
        assert_eq!(p.value(CLOCK_MONOTONIC, tsc), Some(5_010_000_000));
        assert_eq!(p.value(CLOCK_MONOTONIC_COARSE, tsc), Some(5_008_000_000));
        assert_eq!(
            p.value(CLOCK_REALTIME_COARSE, tsc),
            Some(1_700_000_005_008_000_000),
            "REALTIME_COARSE ticks with MONOTONIC_COARSE"
        );
        let mut last = 0;
        for t in (0..40_000_000u64).step_by(77_777) {
            let fine = p.value(CLOCK_MONOTONIC, t).unwrap();
            let coarse = p.value(CLOCK_MONOTONIC_COARSE, t).unwrap();
            assert!(coarse <= fine && fine - coarse < COARSE_RES_NS);
            assert!(coarse >= last);
            last = coarse;
        }
    }

    #[test]
    fn the_page_holds_the_layout_of_vvar_h() {
        let p = params();
        let b = encode(Some(&p));
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
        let mask = u32::from_le_bytes(b[4..8].try_into().unwrap());
        assert_eq!(mask, 0b1000_1111_0011);
        assert_eq!(u64_at(8), p.tsc_base);
        assert_eq!(u64_at(16), p.mult);
        assert_eq!(u32::from_le_bytes(b[24..28].try_into().unwrap()), SHIFT);
        assert_eq!(u64_at(32 + 8 * 7), 5_000_000_007);
        assert_eq!(u64_at(32 + 8 * 2), 0, "no base for a CPU clock");
        assert_eq!(u64_at(160), 1);
        assert_eq!(u64_at(160 + 8 * 5), COARSE_RES_NS);
        assert_eq!(
            encode(None)[..CPU_TABLE],
            [0u8; CPU_TABLE],
            "unusable: no clock served"
        );
        // getcpu's table: the sentry's host CPUs, numbered from 1.
        let table = &b[CPU_TABLE..];
        let first = (0..VVAR_SIZE - CPU_TABLE)
            .step_by(2)
            .find(|&i| table[i] != 0)
            .expect("some host CPU is the sandbox's");
        assert_eq!(table[first], 1, "sandbox CPU 0 is the first host CPU");
    }

    #[test]
    fn the_clock_tracks_the_host_and_never_goes_back_across_refreshes() {
        let clock = VClock::calibrate();
        assert!(clock.usable(), "this host's TSC is invariant");
        let host = host_ns(Host::Monotonic);
        let ours = clock.now(CLOCK_MONOTONIC).unwrap().as_nanos() as u64;
        assert!(ours.abs_diff(host) < 1_000_000, "{ours} vs host {host}");
        let mut last = 0;
        for i in 0..2000 {
            if i % 500 == 0 {
                clock.refresh(Duration::from_millis(10));
            }
            let now = clock.now(CLOCK_MONOTONIC).unwrap().as_nanos() as u64;
            assert!(now >= last, "went back from {last} to {now}");
            last = now;
        }
        let real = clock.now(CLOCK_REALTIME).unwrap().as_nanos() as u64;
        let host_real = host_ns(Host::Realtime);
        assert!(
            real.abs_diff(host_real) < 5_000_000,
            "{real} vs {host_real}"
        );
        assert_eq!(clock.now(2), None);
    }
}
