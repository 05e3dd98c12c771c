/* tcpcheck's bridge to lwIP's raw TCP API (Debian liblwip 2.1.3).
 *
 * Compiled by tools/runner/stacks/lwip.py at first use, against the
 * system's headers and library. Everything runs on the caller's thread:
 * lwip_init() without tcpip_init(), so no tcpip thread and no lwIP timer
 * runs unless the runner calls tc_tmr()/tc_fasttmr() (lwIP time is the
 * runner's to advance: deterministic).
 *
 * One netif: Ethernet frames go to a TAP descriptor (linkoutput writes
 * them), frames read from it are handed to tc_input(). A tc_conn is one
 * scenario's application: a listener, a connection, what it received.
 * Connections are looked up by 4-tuple in lwIP's own PCB lists, so a PCB
 * lwIP has freed is never touched.
 */
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include "lwip/init.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/etharp.h"
#include "netif/ethernet.h"

#define RX_MAX 65536

struct tc_conn {
    u16_t lport, rport;
    ip_addr_t peer;
    struct tcp_pcb *listener;
    struct tcp_pcb *pcb;      /* the application's connection (connect or accept) */
    struct tcp_pcb *pending;  /* accepted by lwIP, not yet taken by accept */
    int err;                  /* last err_t the error callback reported */
    int fin;                  /* the receive callback saw the end of data */
    int rx_len;
    u8_t rx[RX_MAX];
};

static struct netif tc_netif;
static int tc_fd = -1;
static int tc_ready;
static u8_t tc_mac[6];

static err_t tc_linkoutput(struct netif *n, struct pbuf *p) {
    u8_t frame[2048];
    u16_t len = pbuf_copy_partial(p, frame, sizeof frame, 0);
    (void)n;
    if (tc_fd >= 0 && write(tc_fd, frame, len) != (ssize_t)len) return ERR_IF;
    return ERR_OK;
}

static err_t tc_netif_init(struct netif *n) {
    n->name[0] = 't'; n->name[1] = 'c';
    n->output = etharp_output;
    n->linkoutput = tc_linkoutput;
    n->mtu = 1500;
    n->hwaddr_len = 6;
    memcpy(n->hwaddr, tc_mac, 6);
    n->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET | NETIF_FLAG_LINK_UP;
    return ERR_OK;
}

/* Bring lwIP up once per process; later stacks only change the TAP. */
int tc_init(int fd, const u8_t *mac, u32_t ip_be, u32_t mask_be) {
    ip4_addr_t ip, mask, gw;
    tc_fd = fd;
    if (tc_ready) return 0;
    memcpy(tc_mac, mac, 6);
    lwip_init();
    ip.addr = ip_be; mask.addr = mask_be; gw.addr = 0;
    if (!netif_add(&tc_netif, &ip, &mask, &gw, NULL, tc_netif_init, ethernet_input)) return -1;
    netif_set_default(&tc_netif);
    netif_set_up(&tc_netif);
    tc_ready = 1;
    return 0;
}

int tc_input(const u8_t *frame, int len) {
    struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_POOL);
    if (p == NULL) return -1;
    pbuf_take(p, frame, (u16_t)len);
    if (tc_netif.input(p, &tc_netif) != ERR_OK) { pbuf_free(p); return -1; }
    return 0;
}

void tc_tmr(void) { tcp_tmr(); }
void tc_fasttmr(void) { tcp_fasttmr(); }
u32_t tc_ticks(void) { return tcp_ticks; }
u32_t tc_slow_interval_ms(void) { return TCP_SLOW_INTERVAL; }
u32_t tc_tmr_interval_ms(void) { return TCP_TMR_INTERVAL; }
u32_t tc_msl_ms(void) { return TCP_MSL; }
u32_t tc_fin_wait_timeout_ms(void) { return TCP_FIN_WAIT_TIMEOUT; }
int tc_synmaxrtx(void) { return TCP_SYNMAXRTX; }
const char *tc_version(void) { return LWIP_VERSION_STRING; }

static int matches(const struct tc_conn *c, const struct tcp_pcb *p) {
    return p->local_port == c->lport && p->remote_port == c->rport && ip_addr_cmp(&p->remote_ip, &c->peer);
}

/* The connection's PCB by 4-tuple: active list, then TIME_WAIT list. */
static struct tcp_pcb *tc_find(const struct tc_conn *c) {
    struct tcp_pcb *p;
    for (p = tcp_active_pcbs; p != NULL; p = p->next) if (matches(c, p)) return p;
    for (p = tcp_tw_pcbs; p != NULL; p = p->next) if (matches(c, p)) return p;
    return NULL;
}

static int listener_alive(const struct tc_conn *c) {
    struct tcp_pcb_listen *l;
    for (l = tcp_listen_pcbs.listen_pcbs; l != NULL; l = l->next)
        if ((struct tcp_pcb *)l == c->listener && l->local_port == c->lport) return 1;
    return 0;
}

/* lwIP's state of the flow (enum tcp_state), -1 when lwIP holds nothing. */
int tc_state(struct tc_conn *c) {
    struct tcp_pcb *p = tc_find(c);
    if (p != NULL) return p->state;
    if (c->listener != NULL && listener_alive(c)) return LISTEN;
    return -1;
}

static err_t tc_recv_cb(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err) {
    struct tc_conn *c = arg;
    (void)pcb; (void)err;
    if (p == NULL) { c->fin = 1; return ERR_OK; }
    /* Held until the application's recv: tcp_recved() then reopens the
       window, so data not read yet is data lwIP counts as unread. */
    if (c->rx_len + p->tot_len <= RX_MAX)
        c->rx_len += pbuf_copy_partial(p, c->rx + c->rx_len, p->tot_len, 0);
    pbuf_free(p);
    return ERR_OK;
}

static void tc_err_cb(void *arg, err_t err) {
    struct tc_conn *c = arg;
    c->err = err;  /* lwIP has freed the PCB */
    c->pcb = NULL;
    c->pending = NULL;
}

static void own(struct tc_conn *c, struct tcp_pcb *p) {
    tcp_arg(p, c);
    tcp_recv(p, tc_recv_cb);
    tcp_err(p, tc_err_cb);
}

static err_t tc_accept_cb(void *arg, struct tcp_pcb *newpcb, err_t err) {
    struct tc_conn *c = arg;
    if (newpcb == NULL || err != ERR_OK) return ERR_VAL;
    if (c->pending != NULL || c->pcb != NULL) return ERR_MEM;
    own(c, newpcb);
    c->pending = newpcb;
    return ERR_OK;
}

static err_t tc_connected_cb(void *arg, struct tcp_pcb *pcb, err_t err) {
    (void)arg; (void)pcb; (void)err;
    return ERR_OK;
}

struct tc_conn *tc_conn_new(u16_t lport, u32_t peer_be, u16_t rport) {
    struct tc_conn *c = calloc(1, sizeof *c);
    if (c == NULL) return NULL;
    c->lport = lport; c->rport = rport;
    ip_addr_set_ip4_u32(&c->peer, peer_be);
    return c;
}

/* The application's live PCB (NULL when lwIP freed it). */
static struct tcp_pcb *live(struct tc_conn *c) {
    if (c->pcb != NULL && tc_find(c) != c->pcb) c->pcb = NULL;
    return c->pcb;
}

int tc_listen(struct tc_conn *c) {
    err_t err;
    struct tcp_pcb *p = tcp_new();
    if (p == NULL) return ERR_MEM;
    err = tcp_bind(p, IP4_ADDR_ANY, c->lport);
    if (err != ERR_OK) { tcp_close(p); return err; }
    c->listener = tcp_listen_with_backlog_and_err(p, 8, &err);
    if (c->listener == NULL) { tcp_close(p); return err; }
    tcp_arg(c->listener, c);
    tcp_accept(c->listener, tc_accept_cb);
    return ERR_OK;
}

int tc_connect(struct tc_conn *c) {
    err_t err;
    struct tcp_pcb *p = tcp_new();
    if (p == NULL) return ERR_MEM;
    err = tcp_bind(p, IP4_ADDR_ANY, c->lport);
    if (err != ERR_OK) { tcp_close(p); return err; }
    own(c, p);
    err = tcp_connect(p, &c->peer, c->rport, tc_connected_cb);
    if (err != ERR_OK) { tcp_abort(p); c->pcb = NULL; return err; }
    c->pcb = p;
    return ERR_OK;
}

/* 1 when a connection was taken, 0 when none is queued. */
int tc_accept(struct tc_conn *c) {
    if (c->pending == NULL || tc_find(c) != c->pending) { c->pending = NULL; return 0; }
    c->pcb = c->pending;
    c->pending = NULL;
    return 1;
}

/* close() on the connection, else on the listener; 1 when there was none. */
int tc_close(struct tc_conn *c) {
    struct tcp_pcb *p = live(c);
    if (p != NULL) { c->pcb = NULL; return tcp_close(p); }
    if (c->listener != NULL && listener_alive(c)) {
        p = c->listener; c->listener = NULL;
        return tcp_close(p);
    }
    return 1;
}

int tc_shutdown_wr(struct tc_conn *c) {
    struct tcp_pcb *p = live(c);
    if (p == NULL) return 1;
    return tcp_shutdown(p, 0, 1);
}

/* tcp_abort() on the connection; a listener cannot be aborted in lwIP
   (tcp_abandon asserts state != LISTEN), it is closed. */
int tc_abort(struct tc_conn *c) {
    struct tcp_pcb *p = live(c);
    if (p != NULL) { c->pcb = NULL; tcp_abort(p); return ERR_OK; }
    if (c->listener != NULL && listener_alive(c)) {
        p = c->listener; c->listener = NULL;
        return tcp_close(p);
    }
    return 1;
}

int tc_send(struct tc_conn *c, const u8_t *data, int len) {
    err_t err;
    struct tcp_pcb *p = live(c);
    if (p == NULL) return 1;
    err = tcp_write(p, data, (u16_t)len, TCP_WRITE_FLAG_COPY);
    if (err != ERR_OK) return err;
    return tcp_output(p);
}

/* Copy what was received into buf and give the window back. */
int tc_recv(struct tc_conn *c, u8_t *buf, int max) {
    int n = c->rx_len < max ? c->rx_len : max;
    struct tcp_pcb *p = live(c);
    memcpy(buf, c->rx, (size_t)n);
    memmove(c->rx, c->rx + n, (size_t)(c->rx_len - n));
    c->rx_len -= n;
    if (p != NULL && n > 0) tcp_recved(p, (u16_t)n);
    return n;
}

int tc_last_err(struct tc_conn *c) { int e = c->err; c->err = 0; return e; }

/* Teardown: abort whatever lwIP still holds of the flow (a TIME_WAIT PCB
   goes silently, tcp_abandon), close the listener, free the tc_conn: no
   PCB refers to it any more, so no callback can reach it. */
void tc_teardown(struct tc_conn *c) {
    struct tcp_pcb *p;
    while ((p = tc_find(c)) != NULL) {
        tcp_arg(p, NULL); tcp_err(p, NULL); tcp_recv(p, NULL);
        tcp_abort(p);
    }
    if (c->listener != NULL && listener_alive(c)) tcp_close(c->listener);
    free(c);
}
