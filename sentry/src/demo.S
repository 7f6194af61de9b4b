.globl _start
_start:
  mov $1, %eax; mov $1, %edi; lea msg1(%rip), %rsi; mov $len1, %edx; syscall
  mov $57, %eax; syscall          # fork
  test %rax, %rax
  jnz parent
  mov $1, %eax; mov $1, %edi; lea msg2(%rip), %rsi; mov $len2, %edx; syscall
  mov $60, %eax; mov $7, %edi; syscall   # child: exit(7)
parent:
  sub $16, %rsp
  mov $61, %eax; mov $-1, %rdi; mov %rsp, %rsi; xor %edx, %edx; xor %r10d, %r10d; syscall  # wait4
  mov (%rsp), %eax
  shr $8, %eax
  and $0xff, %eax
  add $'0', %eax
  mov %al, 8(%rsp)
  movb $10, 9(%rsp)
  lea msg3(%rip), %rsi
  mov $1, %eax; mov $1, %edi; mov $len3, %edx; syscall
  lea 8(%rsp), %rsi
  mov $1, %eax; mov $1, %edi; mov $2, %edx; syscall
  mov $231, %eax; xor %edi, %edi; syscall
msg1: .ascii "hello from a KVM sandbox: pid 1 forks a child\n"
.set len1, . - msg1
msg2: .ascii "child: running on its own vCPU with a copy-on-write address space\n"
.set len2, . - msg2
msg3: .ascii "parent: reaped the child, exit status "
.set len3, . - msg3
