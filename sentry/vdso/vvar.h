/*
 * The [vvar] page: what the sentry publishes for the vDSO's clocks.
 *
 * The page sits right below the vDSO image (the linker script defines
 * `vvar_page` at image - 4096), so the code reaches it PC-relative and
 * the image needs no relocation. The sentry writes it through its own
 * mapping of the frame (sentry/src/kernel/vclock.rs lays out the same
 * fields); the guest maps it read-only.
 *
 * Every field after `seq` is valid only between two reads of `seq` that
 * see the same even value (a sequence lock: odd while the sentry writes).
 *
 * For a clock whose bit is set in `clock_mask`:
 *
 *     ns = base_ns[clock] + ((tsc - tsc_base) * mult) >> shift
 *
 * with the product in 128 bits; for a clock whose `res_ns` is above 1 (the
 * _COARSE clocks) the value is taken as of the last tick instead:
 *
 *     mono = base_ns[CLOCK_MONOTONIC] + ((tsc - tsc_base) * mult) >> shift
 *     ns   = (base_ns[clock] - base_ns[CLOCK_MONOTONIC]) + mono - mono % res_ns[clock]
 *
 * A clear bit (other clocks, or every clock
 * when the sentry found the TSC unusable) means: make the real syscall.
 */
#ifndef SENTRY_VVAR_H
#define SENTRY_VVAR_H

#define VVAR_CLOCKS 16
#define VVAR_HOST_CPUS 256

struct vvar_data {
	unsigned int seq;                       /* 0 */
	unsigned int clock_mask;                /* 4 */
	unsigned long long tsc_base;            /* 8 */
	unsigned long long mult;                /* 16 */
	unsigned int shift;                     /* 24 */
	unsigned int pad;                       /* 28 */
	unsigned long long base_ns[VVAR_CLOCKS]; /* 32 */
	unsigned long long res_ns[VVAR_CLOCKS];  /* 160 */
	/*
	 * For getcpu: the sandbox CPU of each host CPU (as RDTSCP reports
	 * it), plus one; 0 for a host CPU that is none of the sandbox's
	 * (make the syscall). Valid whatever `clock_mask` says.
	 */
	unsigned short cpu_of_host[VVAR_HOST_CPUS]; /* 288 */
};

/* The offsets sentry/src/kernel/vclock.rs writes at. */
_Static_assert(__builtin_offsetof(struct vvar_data, clock_mask) == 4, "vvar layout");
_Static_assert(__builtin_offsetof(struct vvar_data, tsc_base) == 8, "vvar layout");
_Static_assert(__builtin_offsetof(struct vvar_data, mult) == 16, "vvar layout");
_Static_assert(__builtin_offsetof(struct vvar_data, shift) == 24, "vvar layout");
_Static_assert(__builtin_offsetof(struct vvar_data, base_ns) == 32, "vvar layout");
_Static_assert(__builtin_offsetof(struct vvar_data, res_ns) == 160, "vvar layout");
_Static_assert(__builtin_offsetof(struct vvar_data, cpu_of_host) == 288, "vvar layout");
_Static_assert(sizeof(struct vvar_data) == 800, "vvar layout");

#endif
