package io.conductor.daemon.cluster;

import io.conductor.daemon.registry.ServiceKey;
import io.conductor.daemon.registry.ServiceRegistration;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.KeyValue;
import io.etcd.jetcd.Watch;
import io.etcd.jetcd.kv.GetResponse;
import io.etcd.jetcd.kv.TxnResponse;
import io.etcd.jetcd.lease.LeaseKeepAliveResponse;
import io.etcd.jetcd.op.Cmp;
import io.etcd.jetcd.op.CmpTarget;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.DeleteOption;
import io.etcd.jetcd.options.GetOption;
import io.etcd.jetcd.options.PutOption;
import io.etcd.jetcd.options.WatchOption;
import io.etcd.jetcd.support.CloseableClient;
import io.etcd.jetcd.watch.WatchEvent;
import io.etcd.jetcd.watch.WatchResponse;
import io.grpc.stub.StreamObserver;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The etcd side of shared registrations, over jetcd. Layout under the prefix:
 * <pre>
 *   PREFIX/registrations/INSTANCE|TENANT|DP   a registration ({@link RegistrationJson})
 *   PREFIX/members/URL                        a replica's base URL, attached to its lease
 * </pre>
 * Every call has a deadline ({@link #OP_TIMEOUT}) and throws {@link ClusterUnavailableException} when etcd does
 * not answer in time; jetcd's gRPC channel reconnects with backoff by itself.
 *
 * <p>Thread-safe (jetcd clients are); watch callbacks come on jetcd's threads.
 */
final class SharedRegistrations implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(SharedRegistrations.class);
    static final Duration OP_TIMEOUT = Duration.ofSeconds(2);

    /** The registrations in etcd and the revision they were read at. */
    record Listing(Map<ServiceKey, ServiceRegistration> registrations, long revision) {
    }

    /** One change seen by the watch: a registration put ({@code registration} set) or deleted. */
    record Change(ServiceKey key, @Nullable ServiceRegistration registration) {
    }

    private final Client client;
    private final String registrationsPrefix;
    private final String membersPrefix;
    private final Duration leaseTtl;
    private @Nullable CloseableClient keepAlive;
    /** The membership lease held now, 0 when none; revoked by {@link #leave}. */
    private long lease;
    /** Set by {@link #leave}: this replica is stopping and must not join again. */
    private boolean left;

    static {
        // jetcd runs on vert.x, whose file resolver unpacks classpath resources into a vertx-cache-<uuid> directory
        // under java.io.tmpdir and leaves it behind after a kill. We serve no files through vert.x: turning
        // classpath resolving off means the directory is never created. Read once, when vert.x's
        // FileSystemOptions class initializes, so it must be set before the first client; an explicit -D wins.
        if (System.getProperty("vertx.disableFileCPResolving") == null) {
            System.setProperty("vertx.disableFileCPResolving", "true");
        }
    }

    SharedRegistrations(ClusterSettings settings) {
        this.client = Client.builder().endpoints(settings.endpoints().toArray(java.net.URI[]::new))
                .connectTimeout(OP_TIMEOUT).build();
        this.registrationsPrefix = settings.prefix() + "/registrations/";
        this.membersPrefix = settings.prefix() + "/members/";
        this.leaseTtl = settings.leaseTtl();
    }

    private static ByteSequence bytes(String s) {
        return ByteSequence.from(s, StandardCharsets.UTF_8);
    }

    private ByteSequence keyOf(ServiceKey key) {
        return bytes(registrationsPrefix + key.instanceId() + "|" + key.tenantId() + "|" + key.dpRank());
    }

    private static <T> T await(java.util.concurrent.CompletableFuture<T> f, String what)
            throws ClusterUnavailableException {
        try {
            return f.get(OP_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            f.cancel(true);
            throw new ClusterUnavailableException("etcd did not answer " + what + " within " + OP_TIMEOUT.toMillis()
                    + " ms", e);
        } catch (ExecutionException e) {
            throw new ClusterUnavailableException("etcd failed " + what + ": " + e.getCause(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ClusterUnavailableException("interrupted during " + what, e);
        }
    }

    /**
     * Stores a registration unless its key holds another one (one etcd transaction, so of two replicas racing
     * conflicting registrations exactly one wins).
     *
     * @return {@code null} when stored or already stored identically; the stored registration that won otherwise
     */
    @Nullable ServiceRegistration putIfAbsent(ServiceRegistration r) throws ClusterUnavailableException {
        ByteSequence k = keyOf(r.key());
        TxnResponse t = await(client.getKVClient().txn()
                .If(new Cmp(k, Cmp.Op.EQUAL, CmpTarget.version(0)))
                .Then(Op.put(k, ByteSequence.from(RegistrationJson.encode(r)), PutOption.DEFAULT))
                .Else(Op.get(k, GetOption.DEFAULT))
                .commit(), "put " + r.key());
        if (t.isSucceeded()) {
            return null;
        }
        List<KeyValue> kvs = t.getGetResponses().isEmpty() ? List.of() : t.getGetResponses().getFirst().getKvs();
        if (kvs.isEmpty()) {
            return null; // deleted in between: treat as ours on the next reconcile
        }
        ServiceRegistration stored = RegistrationJson.decode(kvs.getFirst().getValue().getBytes());
        return stored.equals(r) ? null : stored;
    }

    /**
     * Deletes a registration.
     *
     * @return whether etcd held it
     */
    boolean delete(ServiceKey key) throws ClusterUnavailableException {
        return await(client.getKVClient().delete(keyOf(key), DeleteOption.DEFAULT), "delete " + key).getDeleted() > 0;
    }

    /** Reads every registration; undecodable values are logged and skipped. */
    Listing list() throws ClusterUnavailableException {
        GetResponse g = await(client.getKVClient().get(bytes(registrationsPrefix),
                GetOption.builder().isPrefix(true).build()), "list registrations");
        Map<ServiceKey, ServiceRegistration> out = new LinkedHashMap<>();
        for (KeyValue kv : g.getKvs()) {
            try {
                ServiceRegistration r = RegistrationJson.decode(kv.getValue().getBytes());
                out.put(r.key(), r);
            } catch (IllegalArgumentException e) {
                LOG.warn("event=etcd_registration_unreadable key={} error=\"{}\"",
                        kv.getKey().toString(StandardCharsets.UTF_8), e.getMessage());
            }
        }
        return new Listing(out, g.getHeader().getRevision());
    }

    /**
     * Watches registrations from {@code fromRevision}. {@code onCreated} runs once etcd confirmed the watch (from
     * then on a change reaches {@code onChanges} within milliseconds); {@code onError} when the watch breaks.
     */
    Watch.Watcher watch(long fromRevision, Runnable onCreated, Consumer<List<Change>> onChanges,
            Consumer<Throwable> onError) {
        return client.getWatchClient().watch(bytes(registrationsPrefix),
                WatchOption.builder().isPrefix(true).withRevision(fromRevision).withCreateNotify(true).build(),
                Watch.listener((WatchResponse resp) -> {
                    if (resp.isCreatedNotify()) {
                        onCreated.run();
                    }
                    List<Change> changes = changes(resp);
                    if (!changes.isEmpty()) {
                        onChanges.accept(changes);
                    }
                }, onError));
    }

    private List<Change> changes(WatchResponse resp) {
        List<Change> out = new ArrayList<>();
        for (WatchEvent e : resp.getEvents()) {
            String k = e.getKeyValue().getKey().toString(StandardCharsets.UTF_8).substring(registrationsPrefix.length());
            String[] parts = k.split("\\|", -1);
            if (parts.length != 3) {
                continue;
            }
            ServiceKey key;
            try {
                key = new ServiceKey(parts[0], parts[1], Integer.parseInt(parts[2]));
            } catch (IllegalArgumentException bad) {
                continue;
            }
            if (e.getEventType() == WatchEvent.EventType.DELETE) {
                out.add(new Change(key, null));
            } else if (e.getEventType() == WatchEvent.EventType.PUT) {
                try {
                    out.add(new Change(key, RegistrationJson.decode(e.getKeyValue().getValue().getBytes())));
                } catch (IllegalArgumentException bad) {
                    LOG.warn("event=etcd_registration_unreadable key={} error=\"{}\"", k, bad.getMessage());
                }
            }
        }
        return out;
    }

    /** Announces this replica: its URL under the members prefix, on a lease kept alive from now on. */
    synchronized void join(String url) throws ClusterUnavailableException {
        if (left) {
            return;
        }
        if (keepAlive != null) {
            keepAlive.close();
            keepAlive = null;
        }
        revokeQuietly();
        long granted = await(client.getLeaseClient().grant(leaseTtl.toSeconds()), "grant lease").getID();
        lease = granted;
        await(client.getKVClient().put(bytes(membersPrefix + url), bytes(url),
                PutOption.builder().withLeaseId(granted).build()), "put member");
        keepAlive = client.getLeaseClient().keepAlive(granted, new StreamObserver<LeaseKeepAliveResponse>() {
            @Override
            public void onNext(LeaseKeepAliveResponse value) {
                // the lease lives on
            }

            @Override
            public void onError(Throwable t) {
                LOG.warn("event=etcd_lease_lost error=\"{}\"", t.toString());
            }

            @Override
            public void onCompleted() {
                // closed by us
            }
        });
    }

    /** The base URLs of every replica that holds a live membership lease. */
    List<String> members() throws ClusterUnavailableException {
        GetResponse g = await(client.getKVClient().get(bytes(membersPrefix),
                GetOption.builder().isPrefix(true).build()), "list members");
        List<String> out = new ArrayList<>();
        for (KeyValue kv : g.getKvs()) {
            out.add(kv.getValue().toString(StandardCharsets.UTF_8));
        }
        return out;
    }

    /**
     * Leaves the membership for good: stops the keep-alive and revokes the lease, so the member key goes at once
     * (peers stop choosing this replica to bootstrap from) instead of when the TTL runs out. When etcd does not
     * answer, the key expires with the lease's TTL.
     */
    synchronized void leave() {
        left = true;
        if (keepAlive != null) {
            keepAlive.close();
            keepAlive = null;
        }
        revokeQuietly();
    }

    private void revokeQuietly() {
        long id = lease;
        if (id == 0) {
            return;
        }
        lease = 0;
        try {
            await(client.getLeaseClient().revoke(id), "revoke lease");
            LOG.info("event=etcd_membership_left lease={}", Long.toHexString(id));
        } catch (ClusterUnavailableException e) {
            LOG.warn("event=etcd_lease_revoke_failed lease={} error=\"{}\" action=\"the member key expires with the "
                    + "lease TTL ({} s)\"", Long.toHexString(id), e.getMessage(), leaseTtl.toSeconds());
        }
    }

    @Override
    public synchronized void close() {
        leave();
        client.close();
    }
}
