/* epoll edge-triggered (EPOLLET) items: reported once per change of the
 * file in their direction, not while they merely stay ready; ADD and MOD
 * re-arm; EPOLLONESHOT; nested epoll; a level-triggered item on the same
 * pipe beside an edge-triggered one. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

static int ep;

/* How many events a zero-timeout wait on `e` reports, and their masks. */
static int waitn(int e, const char *what) {
    struct epoll_event ev[8];
    int n = epoll_wait(e, ev, 8, 0);
    /* Sorted by data: the order of the ready list is not compared. */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && ev[j - 1].data.u64 > ev[j].data.u64; j--) {
            struct epoll_event t = ev[j];
            ev[j] = ev[j - 1];
            ev[j - 1] = t;
        }
    printf("%s: %d", what, n);
    for (int i = 0; i < n; i++)
        printf(" [%llu %#x]", (unsigned long long)ev[i].data.u64, ev[i].events);
    printf("\n");
    return n;
}

static void add(int e, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev = {.events = events, .data.u64 = data};
    if (epoll_ctl(e, EPOLL_CTL_ADD, fd, &ev) != 0)
        printf("add %d: errno %d\n", fd, errno);
}

static void mod(int e, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev = {.events = events, .data.u64 = data};
    if (epoll_ctl(e, EPOLL_CTL_MOD, fd, &ev) != 0)
        printf("mod %d: errno %d\n", fd, errno);
}

static void del(int e, int fd) {
    struct epoll_event ev = {0};
    epoll_ctl(e, EPOLL_CTL_DEL, fd, &ev);
}

static void pipe_in(void) {
    int p[2];
    char buf[64];
    pipe2(p, O_NONBLOCK);
    ep = epoll_create1(0);
    add(ep, p[0], EPOLLIN | EPOLLET, 1);
    waitn(ep, "pipe in: empty");
    write(p[1], "ab", 2);
    waitn(ep, "pipe in: after write");
    waitn(ep, "pipe in: again");
    write(p[1], "cd", 2);
    waitn(ep, "pipe in: more while unread");
    read(p[0], buf, 1);
    waitn(ep, "pipe in: partial read");
    printf("drained %zd\n", read(p[0], buf, sizeof buf));
    waitn(ep, "pipe in: drained");
    write(p[1], "e", 1);
    waitn(ep, "pipe in: drain + write");
    mod(ep, p[0], EPOLLIN | EPOLLET, 2);
    waitn(ep, "pipe in: MOD re-arms");
    waitn(ep, "pipe in: after MOD");
    close(p[1]);
    waitn(ep, "pipe in: writer closed");
    waitn(ep, "pipe in: after hup");
    close(p[0]);
    close(ep);
}

static void pipe_out(void) {
    int p[2];
    char buf[65536];
    pipe2(p, O_NONBLOCK);
    ep = epoll_create1(0);
    add(ep, p[1], EPOLLOUT | EPOLLET, 3);
    waitn(ep, "pipe out: initially");
    waitn(ep, "pipe out: again");
    write(p[1], "x", 1);
    waitn(ep, "pipe out: after a write");
    memset(buf, 'y', sizeof buf);
    long total = 0;
    for (;;) {
        ssize_t n = write(p[1], buf, sizeof buf);
        if (n < 0)
            break;
        total += n;
    }
    printf("filled, EAGAIN %d\n", errno == EAGAIN);
    waitn(ep, "pipe out: full");
    read(p[0], buf, 8192);
    waitn(ep, "pipe out: read some");
    waitn(ep, "pipe out: again");
    read(p[0], buf, 8192);
    waitn(ep, "pipe out: read more, not full before");
    close(p[0]);
    waitn(ep, "pipe out: reader closed");
    close(p[1]);
    close(ep);
}

static void sockets(void) {
    int s[2];
    char buf[64];
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, s);
    ep = epoll_create1(0);
    add(ep, s[0], EPOLLIN | EPOLLRDHUP | EPOLLET, 10);
    add(ep, s[1], EPOLLIN | EPOLLET, 11);
    waitn(ep, "sock: nothing");
    write(s[1], "hi", 2);
    waitn(ep, "sock: 1 -> 0");
    waitn(ep, "sock: again");
    write(s[0], "yo", 2);
    waitn(ep, "sock: 0 -> 1");
    write(s[1], "more", 4);
    waitn(ep, "sock: more to 0");
    read(s[0], buf, 1);
    waitn(ep, "sock: partial read");
    read(s[1], buf, sizeof buf);
    waitn(ep, "sock: 1 drained");
    shutdown(s[1], SHUT_WR);
    waitn(ep, "sock: 1 shut wr");
    waitn(ep, "sock: again");
    del(ep, s[0]);
    del(ep, s[1]);
    add(ep, s[1], EPOLLOUT | EPOLLET, 12);
    waitn(ep, "sock out: initially");
    waitn(ep, "sock out: again");
    close(s[0]);
    close(s[1]);
    close(ep);
}

static void tcp(void) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    socklen_t len = sizeof a;
    char buf[64];
    int l = socket(AF_INET, SOCK_STREAM, 0);
    bind(l, (struct sockaddr *)&a, sizeof a);
    listen(l, 4);
    getsockname(l, (struct sockaddr *)&a, &len);
    ep = epoll_create1(0);
    add(ep, l, EPOLLIN | EPOLLET, 60);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (connect(c, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS)
        printf("connect: errno %d\n", errno);
    usleep(10000);
    waitn(ep, "tcp: listener");
    waitn(ep, "tcp: listener again");
    int s = accept4(l, NULL, NULL, SOCK_NONBLOCK);
    add(ep, s, EPOLLIN | EPOLLRDHUP | EPOLLET, 61);
    waitn(ep, "tcp: accepted");
    write(c, "hello", 5);
    usleep(10000);
    waitn(ep, "tcp: data");
    waitn(ep, "tcp: again");
    read(s, buf, 2);
    waitn(ep, "tcp: partial read");
    write(c, "!", 1);
    usleep(10000);
    waitn(ep, "tcp: more data");
    read(s, buf, sizeof buf);
    shutdown(c, SHUT_WR);
    usleep(10000);
    waitn(ep, "tcp: FIN");
    waitn(ep, "tcp: after FIN");
    close(c);
    close(s);
    close(l);
    close(ep);
}

static void event_fd(void) {
    int e = eventfd(0, EFD_NONBLOCK);
    uint64_t v = 1;
    ep = epoll_create1(0);
    add(ep, e, EPOLLIN | EPOLLET, 20);
    waitn(ep, "eventfd: zero");
    write(e, &v, 8);
    waitn(ep, "eventfd: written");
    waitn(ep, "eventfd: again");
    write(e, &v, 8);
    waitn(ep, "eventfd: written again");
    read(e, &v, 8);
    waitn(ep, "eventfd: read");
    del(ep, e);
    add(ep, e, EPOLLOUT | EPOLLET, 21);
    waitn(ep, "eventfd out: initially");
    waitn(ep, "eventfd out: again");
    v = 5;
    write(e, &v, 8);
    waitn(ep, "eventfd out: after write");
    read(e, &v, 8);
    waitn(ep, "eventfd out: after read");
    close(e);
    close(ep);
}

static void oneshot(void) {
    int p[2];
    char buf[8];
    pipe2(p, O_NONBLOCK);
    ep = epoll_create1(0);
    add(ep, p[0], EPOLLIN | EPOLLET | EPOLLONESHOT, 30);
    write(p[1], "a", 1);
    waitn(ep, "oneshot: first");
    write(p[1], "b", 1);
    waitn(ep, "oneshot: disabled");
    mod(ep, p[0], EPOLLIN | EPOLLET | EPOLLONESHOT, 31);
    waitn(ep, "oneshot: MOD re-arms");
    waitn(ep, "oneshot: disabled again");
    read(p[0], buf, sizeof buf);
    mod(ep, p[0], EPOLLIN | EPOLLET | EPOLLONESHOT, 32);
    waitn(ep, "oneshot: MOD while empty");
    write(p[1], "c", 1);
    waitn(ep, "oneshot: write after MOD");
    close(p[0]);
    close(p[1]);
    close(ep);
}

static void nested(void) {
    int p[2];
    char buf[8];
    pipe2(p, O_NONBLOCK);
    int inner = epoll_create1(0);
    int outer = epoll_create1(0);
    add(inner, p[0], EPOLLIN | EPOLLET, 40);
    add(outer, inner, EPOLLIN, 41);
    waitn(outer, "nested: empty");
    write(p[1], "a", 1);
    waitn(outer, "nested: outer sees inner");
    waitn(outer, "nested: outer again");
    waitn(inner, "nested: inner");
    waitn(inner, "nested: inner again");
    waitn(outer, "nested: outer after inner");
    write(p[1], "b", 1);
    waitn(outer, "nested: outer after write");
    waitn(inner, "nested: inner after write");
    read(p[0], buf, sizeof buf);
    close(outer);
    close(inner);
    close(p[0]);
    close(p[1]);
}

static void level_beside(void) {
    int p[2];
    char buf[8];
    pipe2(p, O_NONBLOCK);
    int dup0 = dup(p[0]);
    ep = epoll_create1(0);
    add(ep, p[0], EPOLLIN | EPOLLET, 50);
    add(ep, dup0, EPOLLIN, 51);
    write(p[1], "ab", 2);
    waitn(ep, "mixed: write");
    waitn(ep, "mixed: again");
    read(p[0], buf, 1);
    waitn(ep, "mixed: partial read");
    read(p[0], buf, 1);
    waitn(ep, "mixed: drained");
    close(dup0);
    close(p[0]);
    close(p[1]);
    close(ep);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    pipe_in();
    pipe_out();
    sockets();
    tcp();
    event_fd();
    oneshot();
    nested();
    level_beside();
    return 0;
}
