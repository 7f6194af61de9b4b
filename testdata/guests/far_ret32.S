/*
 * far_ret32: tries to enter 32-bit compatibility mode with a far return to
 * Linux's 32-bit user code selector 0x23, the first step of the ring-0
 * escape in issue 7 (from compatibility mode `syscall` went through
 * CSTAR into ring 0). Prints "before\n"; if the far return works it prints
 * "ran 32-bit code\n" from 64-bit mode again (after a far jump back to
 * 0x33) and exits 0. Natively Linux runs it that way; the sandbox has no
 * 32-bit code segment, so the far return faults and the guest dies of
 * SIGSEGV after "before\n".
 */
	.globl	_start
	.text
_start:
	mov	$1, %eax		/* write(1, before, 7) */
	mov	$1, %edi
	lea	before(%rip), %rsi
	mov	$7, %edx
	syscall
	push	$0x23
	lea	compat(%rip), %rax
	push	%rax
	lretq

	.code32
compat:
	ljmp	$0x33, $back		/* a static ET_EXEC: `back` fits 32 bits */

	.code64
back:
	mov	$1, %eax
	mov	$1, %edi
	lea	escaped(%rip), %rsi
	mov	$16, %edx
	syscall
	mov	$231, %eax		/* exit_group(0) */
	xor	%edi, %edi
	syscall
	hlt

	.section .rodata
before:
	.ascii	"before\n"
escaped:
	.ascii	"ran 32-bit code\n"

	.section .note.GNU-stack,"",@progbits
