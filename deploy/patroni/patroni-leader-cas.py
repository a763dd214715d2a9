#!/usr/bin/python3
"""
Debian bookworm's Patroni 3.0.2, started with one fix of 3.0.3 (patroni/patroni#2689).

A member cut off from etcd, once its network comes back, may still hold a cached view
in which it is the leader. Patroni 3.0.2 then renews "its" leader key with an
unconditional put: it takes the key from the member that was promoted meanwhile and
leaves the cluster without a working primary (seen in test/integration/deploy-hosts).
Here the put is a compare-and-swap on the key as this member last saw it: a key that
another member took, or that expired, stays as it is; the update fails, and Patroni
demotes and follows the leader instead. Nothing else of Patroni changes.

Run as: patroni-leader-cas.py <patroni.yml> (the arguments of /usr/bin/patroni).
"""
import sys
import time

from patroni.dcs import Leader, etcd3


@etcd3.catch_return_false_exception
def _update_leader(self):
    retry = self._retry.copy()

    def _retry(*args, **kwargs):
        kwargs['retry'] = retry
        return retry(*args, **kwargs)

    self._run_and_handle_exceptions(self._do_refresh_lease, True, retry=_retry)
    if not self._lease:
        return False
    cluster = self.cluster
    leader = cluster.leader if cluster and isinstance(cluster.leader, Leader) else None
    if leader and leader.session == self._lease:
        return True
    # Our key under a lease we no longer have: rewrite it only if nobody touched it since.
    if not leader or leader.name != self._name:
        return False
    retry.deadline = retry.stoptime - time.time()
    if retry.deadline < 1:
        raise etcd3.Etcd3Error('update_leader timeout')
    return bool(self._run_and_handle_exceptions(self._client.put, self.leader_path, self._name, self._lease,
                                                mod_revision=leader.index, retry=_retry))


if not hasattr(etcd3, 'catch_return_false_exception') or not hasattr(etcd3.Etcd3, '_update_leader'):
    sys.exit('patroni-leader-cas.py: this Patroni has no etcd3 _update_leader to fix; run /usr/bin/patroni instead')
etcd3.Etcd3._update_leader = _update_leader

# Patroni starts the postmaster through multiprocessing with "spawn", which imports this
# file again in the child as __mp_main__: only the real main runs Patroni.
if __name__ == '__main__':
    from patroni.__main__ import main

    sys.exit(main())
