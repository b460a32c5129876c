/*
 * control.h - the control socket that vigilctl talks to: a unix stream
 * socket (mode 0660) on the daemon's loop. The protocol is one JSON object
 * per line each way: {"cmd":"status"} -> {"ok":true,...} or
 * {"ok":false,"error":"..."}. Commands: status, plugins, reload, metrics,
 * outbox, explain, check-config. A request line is at most
 * CONTROL_MAX_LINE bytes, or what control_set_line_limit allows.
 */
#ifndef VIGIL_CONTROL_H
#define VIGIL_CONTROL_H

/* The longest request line, unless control_set_line_limit raises it. */
#define CONTROL_MAX_LINE 65536

#ifndef VIGILCTL
#include <jansson.h>

struct event_base;
typedef struct control control;

/* A command handler fills reply (an object) and returns 0, or returns -1
 * with reply's "error" set. Deferred replies: a handler may instead return
 * 1 and keep the control_req, answering later with control_reply. */
typedef struct control_req control_req;
typedef int (*control_fn)(
    void *arg, control_req *req, json_t *args, json_t *reply);

/* Everything here runs on the loop thread of base.
 *
 * Listens on path (mode 0660). A socket left there by a dead daemon
 * (connect refused) is removed first; a live one is an error ("another
 * vigild is running on PATH"), and so is a path that is not a socket.
 * On error returns NULL with the reason in err. */
control *control_open(
    struct event_base *base, const char *path, char *err, size_t errlen);
/* Closes every client and removes the socket (if it is still ours).
 * Deferred requests stay valid: answer them with control_reply, which
 * then only frees. Not from inside a handler. */
void control_close(control *c);
/* Registers a handler for requests {"cmd": name, ...}. args is the whole
 * request object, valid during the call (json_incref it to keep it for a
 * deferred reply). The reply written back is the handler's object with
 * "ok" first: false when it returned -1 or set a string "error". Lines
 * are answered one at a time per client, in order. Returns -1 (logged)
 * for a name registered twice. */
int control_command(control *c, const char *name, control_fn fn, void *arg);
/* Answers a deferred request (exactly once, maybe from inside the
 * handler itself); takes ownership of reply (NULL: a failure). The
 * reply object the handler was given is dropped when it returns 1. If
 * the client has gone meanwhile, the reply is dropped. */
void control_reply(control_req *req, json_t *reply);

/* The longest request line a client may send, asked as each of its lines
 * begins (so a line is held to the limit it began under); when basis is
 * not NULL, fills it with what the limit makes room for, for the error a
 * longer line gets. */
typedef size_t (*control_limit_fn)(void *arg, char *basis, size_t basislen);
/* Lines longer than CONTROL_MAX_LINE are taken up to what fn says (never
 * less than CONTROL_MAX_LINE). A longer line is answered with an error
 * naming the limit, and the client is closed. */
void control_set_line_limit(control *c, control_limit_fn fn, void *arg);
#endif

#endif
