/*
 * fieldtest-delayer QUEUE DELAY_MS JITTER_MS
 *
 * Holds every packet that iptables sends to NFQUEUE number QUEUE for DELAY_MS milliseconds,
 * plus or minus up to JITTER_MS (uniform), then lets it through. It exists because the
 * kernels fieldtest is developed and tested on have no sch_netem; where netem is present,
 * fieldtest uses netem instead. Only packet metadata is copied to user space, never payload.
 *
 * The iptables rule that feeds the queue carries --queue-bypass, so packets pass undelayed
 * once this process is gone. On TERM or INT, the packets held so far are released first.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#define HELD_MAX 65536

struct held {
  uint64_t due_us;
  uint32_t id;
};

/* A binary min-heap on due time: jitter makes due times arrive out of order. */
static struct held heap[HELD_MAX];
static size_t held_count;
static struct nfq_q_handle *queue;
static uint64_t delay_us, jitter_us;
static volatile sig_atomic_t stopping;

static uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void heap_push(struct held item) {
  size_t i = held_count++;
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (heap[parent].due_us <= item.due_us) break;
    heap[i] = heap[parent];
    i = parent;
  }
  heap[i] = item;
}

static struct held heap_pop(void) {
  struct held top = heap[0];
  struct held last = heap[--held_count];
  size_t i = 0;
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= held_count) break;
    if (child + 1 < held_count && heap[child + 1].due_us < heap[child].due_us) child++;
    if (last.due_us <= heap[child].due_us) break;
    heap[i] = heap[child];
    i = child;
  }
  heap[i] = last;
  return top;
}

static void release(uint32_t id) {
  nfq_set_verdict(queue, id, NF_ACCEPT, 0, NULL);
}

static int on_packet(struct nfq_q_handle *q, struct nfgenmsg *msg, struct nfq_data *data, void *arg) {
  (void)q; (void)msg; (void)arg;
  struct nfqnl_msg_packet_hdr *header = nfq_get_msg_packet_hdr(data);
  if (!header) return 0;
  uint32_t id = ntohl(header->packet_id);
  if (held_count == HELD_MAX) { /* full: pass it on rather than hold unboundedly */
    release(id);
    return 0;
  }
  int64_t offset = (int64_t)delay_us;
  if (jitter_us > 0) offset += (int64_t)(random() % (2 * jitter_us + 1)) - (int64_t)jitter_us;
  if (offset < 0) offset = 0;
  heap_push((struct held){ .due_us = now_us() + (uint64_t)offset, .id = id });
  return 0;
}

static void on_signal(int signal) {
  (void)signal;
  stopping = 1;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: fieldtest-delayer QUEUE DELAY_MS JITTER_MS\n");
    return 2;
  }
  uint16_t queue_number = (uint16_t)atoi(argv[1]);
  delay_us = (uint64_t)(atof(argv[2]) * 1000.0);
  jitter_us = (uint64_t)(atof(argv[3]) * 1000.0);
  srandom((unsigned)now_us());

  struct nfq_handle *handle = nfq_open();
  if (!handle) { perror("fieldtest-delayer: nfq_open"); return 1; }
  queue = nfq_create_queue(handle, queue_number, on_packet, NULL);
  if (!queue) { perror("fieldtest-delayer: nfq_create_queue"); return 1; }
  if (nfq_set_mode(queue, NFQNL_COPY_META, 0) < 0) { perror("fieldtest-delayer: nfq_set_mode"); return 1; }
  nfq_set_queue_maxlen(queue, HELD_MAX);
  /* If the kernel's queue overflows anyway, let packets through rather than drop them. */
  nfq_set_queue_flags(queue, NFQA_CFG_F_FAIL_OPEN, NFQA_CFG_F_FAIL_OPEN);
  nfnl_rcvbufsiz(nfq_nfnlh(handle), 16 << 20);

  struct sigaction action = { .sa_handler = on_signal };
  sigaction(SIGTERM, &action, NULL);
  sigaction(SIGINT, &action, NULL);

  int fd = nfq_fd(handle);
  char buffer[65536] __attribute__((aligned));
  printf("fieldtest-delayer: queue %u, %s ms ± %s ms\n", queue_number, argv[2], argv[3]);
  fflush(stdout);
  while (!stopping) {
    uint64_t now = now_us();
    while (held_count > 0 && heap[0].due_us <= now) release(heap_pop().id);
    struct timespec timeout = { 1, 0 };
    if (held_count > 0) {
      uint64_t wait = heap[0].due_us - now;
      timeout.tv_sec = (time_t)(wait / 1000000u);
      timeout.tv_nsec = (long)(wait % 1000000u) * 1000;
    }
    struct pollfd readable = { .fd = fd, .events = POLLIN };
    int ready = ppoll(&readable, 1, &timeout, NULL);
    if (ready < 0 && errno != EINTR) { perror("fieldtest-delayer: ppoll"); break; }
    if (ready > 0) {
      /* Drain what is waiting without blocking; ENOBUFS means the kernel dropped messages (fail-open covers it). */
      for (;;) {
        ssize_t length = recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
        if (length < 0) break;
        nfq_handle_packet(handle, buffer, (int)length);
      }
    }
  }
  while (held_count > 0) release(heap_pop().id);
  nfq_destroy_queue(queue);
  nfq_close(handle);
  return 0;
}
