/* A thread asleep in epoll_wait with no timeout is woken by another
 * thread's EPOLL_CTL_ADD of a file that is already ready, and by an
 * EPOLL_CTL_MOD that re-arms a one-shot item whose file is ready (Linux's
 * ep_insert and ep_modify wake the epoll's waiters). Before the fix, the
 * sandbox slept forever here. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

static int ep;

static void *waiter(void *arg) {
    struct epoll_event ev;
    int n = epoll_wait(ep, &ev, 1, -1);
    *(uint64_t *)arg = n == 1 ? ev.data.u64 : 1000 + (uint64_t)n;
    return NULL;
}

/* Starts a waiter, lets it fall asleep, runs `op`, joins the waiter. */
static uint64_t woken_by(void (*op)(void)) {
    pthread_t th;
    uint64_t got = 0;
    pthread_create(&th, NULL, waiter, &got);
    usleep(100 * 1000);
    op();
    pthread_join(th, NULL);
    return got;
}

static int efd, sv[2];

static void add_ready_eventfd(void) {
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 7};
    epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev);
}

static void add_writable_socket(void) {
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLET, .data.u64 = 8};
    epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev);
}

static void rearm_oneshot(void) {
    struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.u64 = 9};
    epoll_ctl(ep, EPOLL_CTL_MOD, efd, &ev);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    uint64_t one = 1;
    ep = epoll_create1(0);
    efd = eventfd(0, EFD_NONBLOCK);
    write(efd, &one, 8);
    printf("ADD of a readable eventfd wakes: %llu\n",
           (unsigned long long)woken_by(add_ready_eventfd));

    epoll_ctl(ep, EPOLL_CTL_DEL, efd, NULL);
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
    printf("ADD of a writable socket wakes: %llu\n",
           (unsigned long long)woken_by(add_writable_socket));
    epoll_ctl(ep, EPOLL_CTL_DEL, sv[0], NULL);

    struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.u64 = 9};
    epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev);
    struct epoll_event out;
    printf("one-shot first report: %d\n", epoll_wait(ep, &out, 1, 0));
    printf("one-shot disarmed: %d\n", epoll_wait(ep, &out, 1, 0));
    printf("MOD re-arming a ready one-shot wakes: %llu\n",
           (unsigned long long)woken_by(rearm_oneshot));
    return 0;
}
