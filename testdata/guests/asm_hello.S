/*
 * asm_hello: no libc at all. Writes "hello from asm\n" to stdout with a raw
 * write(2) syscall and leaves with exit_group(7).
 */
	.globl _start
	.text
_start:
	mov	$1, %eax		/* SYS_write */
	mov	$1, %edi		/* fd 1 */
	lea	msg(%rip), %rsi
	mov	$msg_len, %edx
	syscall
	mov	$231, %eax		/* SYS_exit_group */
	mov	$7, %edi
	syscall
	hlt				/* not reached */

	.section .rodata
msg:
	.ascii	"hello from asm\n"
	.set	msg_len, . - msg

	.section .note.GNU-stack,"",@progbits
