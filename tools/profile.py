#!/usr/bin/env python3
"""Puts each sample of a `perf script -F comm,tid,time,ip,sym` call-graph
profile in one category by who ran (the roles file: "tid role" lines; kernel
workers and idle by name) and what its stack was doing, and prints each as time
per unit of work: the recorded CPUs' time divided by the units done meanwhile.

  profile.py SAMPLES ROLES UNITS_PER_S CPUS UNIT_NAME
"""
import collections
import re
import sys

COPY_KERNEL = {'_copy_from_iter', '_copy_to_iter', 'copy_user_generic', 'rep_movs_alternative',
               '__copy_user_nocache', 'memcpy', '__memcpy', 'memcpy_orig', 'memmove', '__memmove',
               'copy_user_enhanced_fast_string', 'copy_user_generic_string'}
COPY_USER_PREFIX = ('__memmove', '__memcpy', 'memcpy', 'memmove')
# libc's system call wrappers, named as perf shows them (__libc_recv,
# __GI___poll, __fcntl64_nocancel_adjusted) less their prefixes
SYSCALL_WRAPPERS = {'syscall', 'poll', 'ppoll', 'recv', 'recvfrom', 'recvmsg', 'send', 'sendto', 'sendmsg', 'read',
                    'write', 'readv', 'writev', 'fcntl', 'fcntl64', 'fcntl64_nocancel_adjusted', 'epoll_wait',
                    'epoll_pwait', 'epoll_pwait2'}


def wrapper(fn):
    """Whether user function fn is a system call's libc wrapper"""
    return re.sub(r'^(_*(GI|libc)_)*_*', '', fn) in SYSCALL_WRAPPERS
SWITCH = {'__schedule', 'schedule', 'finish_task_switch', 'finish_task_switch.isra.0', '__switch_to',
          '__switch_to_asm', 'schedule_idle'}
SOFTIRQ = {'net_rx_action', 'handle_softirqs', '__do_softirq', 'do_softirq'}
# (category, any of these functions on the stack), the first that matches
RULES = [
    ('rx: psock backlog worker', {'sk_psock_backlog'}),
    ('rx: strparser, parser and verdict programs, redirect',
     {'__strp_recv', 'strp_data_ready', 'strp_work', 'sk_psock_strp_read', 'sk_psock_verdict_recv',
      'sk_psock_strp_data_ready', 'sk_psock_verdict_data_ready', 'tcp_bpf_strp_read_sock',
      'sk_psock_skb_redirect'}),
    ('rx: TCP/IP and veth (softirq)', SOFTIRQ | {'__netif_receive_skb', 'tcp_v4_rcv', 'ip_rcv',
                                                'process_backlog', 'veth_poll'}),
    ('send: sk_msg program and redirect into the path', {'tcp_bpf_sendmsg', 'sk_psock_msg_verdict',
                                                         'tcp_bpf_sendmsg_redir'}),
    ('send: TCP/IP and veth', {'tcp_sendmsg', 'tcp_sendmsg_locked', 'veth_xmit', '__dev_queue_xmit',
                               'ip_finish_output2', 'tcp_write_xmit', 'tcp_push', '__tcp_push_pending_frames'}),
    ('recv: the socket read', {'unix_bpf_recvmsg', 'unix_stream_recvmsg', 'tcp_recvmsg', 'tcp_bpf_recvmsg',
                               'tcp_bpf_recvmsg_parser', '__sys_recvfrom', '__sys_recvmsg', '___sys_recvmsg',
                               'ksys_read', '__sys_recvmmsg'}),
    ('send: the syscall (write, sendmsg)', {'unix_stream_sendmsg', 'ksys_write', '__sys_sendmsg',
                                          '___sys_sendmsg', '__sys_sendto', 'do_writev'}),
    ('poll, epoll', {'do_sys_poll', 'do_poll', 'ep_poll', 'do_epoll_wait', '__x64_sys_ppoll'}),
    ('fcntl', {'do_fcntl'}),
    ('futex', {'do_futex'}),
]


def category(role, comm, stack):
    """stack: [(kernel?, function)], leaf first"""
    fns = [f for _, f in stack]
    if comm.startswith('swapper') or role == 'idle':
        return 'idle'
    leaf_k = stack[0][0] if stack else False
    if leaf_k and any(f in COPY_KERNEL for f in fns[:3]):
        if any(f in fns for f in ('__pskb_pull_tail', 'skb_copy_bits', 'pskb_expand_head')):
            return 'copy: in the kernel (linearise, expand a head)'
        if any(f in fns for f in ('tcp_sendmsg_locked', 'unix_stream_sendmsg', 'sk_msg_memcopy_from_iter',
                                  'tcp_bpf_sendmsg')):
            return 'copy: into the kernel (send)'
        if any(f in fns for f in ('skb_copy_datagram_iter', 'unix_stream_read_actor', '__sk_msg_recvmsg',
                                  'tcp_recvmsg_locked', 'unix_bpf_recvmsg')):
            return 'copy: out of the kernel (recv)'
        return 'copy: kernel, other'
    if not leaf_k and stack and stack[0][1].startswith(COPY_USER_PREFIX):
        return 'copy: in userspace (memcpy)'
    if not leaf_k and stack and wrapper(stack[0][1]):
        # a sample's interrupt waits while the kernel runs with interrupts off
        # (a switch back to this task, a softirq) and lands on the instruction
        # after the syscall: what the kernel did there, not user work
        return 'syscall return (kernel time with interrupts off)'
    if not leaf_k and stack and stack[0][1] == 'body_sum':
        return 'stress: check of every payload byte'
    if any(f in SWITCH for f in fns):
        return 'context switch'
    for name, fs in RULES:
        if any(f in fs for f in fns):
            return name
    if not leaf_k:
        return 'user: other'
    return 'kernel: other'


HEAD = re.compile(r'^(\S.*?)\s+(\d+)\s+\d+\.\d+:\s*$')	# comm (may hold spaces), tid, time
FRAME = re.compile(r'^\s+([0-9a-f]+)\s+(\S.*)$')	# address, function[+offset]


def samples(path):
    """(comm, tid), [(kernel?, function)] per sample; exits on a line that
    is not perf script -F comm,tid,time,ip,sym output"""
    head, stack = None, []
    for n, line in enumerate(open(path, errors='replace'), 1):
        if not line.strip():
            if head:
                yield head, stack
            head, stack = None, []
            continue
        m = (FRAME if head else HEAD).match(line)
        if not m:
            sys.exit('profile: %s:%d: not perf script -F comm,tid,time,ip,sym output' % (path, n))
        if head:
            stack.append((m.group(1).startswith('ffffffff'), m.group(2).split('+')[0]))
        else:
            head = (m.group(1), m.group(2))
    if head:
        yield head, stack


def roles_of(path):
    """tid -> role, from "tid role" lines"""
    roles = {}
    for n, line in enumerate(open(path), 1):
        p = line.split()
        if p and (len(p) != 2 or not p[0].isdigit()):
            sys.exit('profile: %s:%d: not "tid role"' % (path, n))
        if p:
            roles[p[0]] = p[1]
    return roles


def main():
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    try:
        units, cpus, unit = float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    except ValueError:
        sys.exit(__doc__)
    roles = roles_of(sys.argv[2])
    cats = collections.Counter()
    n = 0
    for (comm, tid), stack in samples(sys.argv[1]):
        n += 1
        role = roles.get(tid) or ('idle' if comm.startswith('swapper') else
                                  'kworker' if comm.startswith('kworker') else 'other')
        cats[(role, category(role, comm, stack))] += 1
    if not n or units <= 0:
        sys.exit('profile: no samples or no units of work')
    per = cpus * 1e6 / units
    print('%d samples of %d CPU(s); %.1f CPU us per %s' % (n, cpus, per, unit))
    by_role = collections.Counter()
    for (r, _), v in cats.items():
        by_role[r] += v
    for r, v in by_role.most_common():
        print('%-8s %8.2f us  %5.1f%%' % (r, per * v / n, 100 * v / n))
        rest = 0
        for (rr, c), vv in cats.most_common():
            if rr != r:
                continue
            if vv / n < 0.005:
                rest += vv
                continue
            print('    %-52s %8.2f us  %5.1f%%' % (c, per * vv / n, 100 * vv / n))
        if rest:
            print('    %-52s %8.2f us  %5.1f%%' % ('(each under 0.5%)', per * rest / n, 100 * rest / n))


main()
