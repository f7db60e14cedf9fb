package server

import (
	"net"
	"net/netip"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Why a connection was refused at accept.
const (
	rejectTotal = "listener_full"
	rejectPerIP = "per_ip"
)

// connMetrics are the listeners' connection gauges and refusals, by listener.
type connMetrics struct {
	open     *prometheus.GaugeVec
	rejected *prometheus.CounterVec
}

func newConnMetrics() connMetrics {
	return connMetrics{
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "poet_server_connections", Help: "Open connections, by listener.",
		}, []string{"listener"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "poet_server_connections_rejected_total",
			Help: "Connections closed at accept because the listener (listener_full) or the client's address (per_ip) had its limit of open connections.",
		}, []string{"listener", "reason"}),
	}
}

// limitListener holds a listener to at most total open connections, and at most perIP
// from one client address, so that one client's connections cannot take every slot
// and other clients (a node asking /v1/info) are still served. A connection over a
// limit is closed as soon as it is accepted: the client gets an immediate error, not a
// wait in the kernel's backlog. Zero means no limit.
type limitListener struct {
	net.Listener
	total, perIP int
	open         prometheus.Gauge
	rejTotal     prometheus.Counter
	rejPerIP     prometheus.Counter

	mu   sync.Mutex
	n    int
	byIP map[netip.Addr]int
}

func limitConns(l net.Listener, name string, total, perIP int, m connMetrics) *limitListener {
	m.open.WithLabelValues(name).Set(0)
	return &limitListener{Listener: l, total: total, perIP: perIP, open: m.open.WithLabelValues(name),
		rejTotal: m.rejected.WithLabelValues(name, rejectTotal), rejPerIP: m.rejected.WithLabelValues(name, rejectPerIP),
		byIP: make(map[netip.Addr]int)}
}

// Accept returns the next connection within the limits, closing those over them.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c)
		l.mu.Lock()
		switch {
		case l.total > 0 && l.n >= l.total:
			l.mu.Unlock()
			l.rejTotal.Inc()
			c.Close()
			continue
		case l.perIP > 0 && l.byIP[ip] >= l.perIP:
			l.mu.Unlock()
			l.rejPerIP.Inc()
			c.Close()
			continue
		}
		l.n++
		l.byIP[ip]++
		l.mu.Unlock()
		l.open.Inc()
		return &limitedConn{Conn: c, release: func() { l.release(ip) }}, nil
	}
}

func (l *limitListener) release(ip netip.Addr) {
	l.mu.Lock()
	l.n--
	if l.byIP[ip]--; l.byIP[ip] <= 0 {
		delete(l.byIP, ip)
	}
	l.mu.Unlock()
	l.open.Dec()
}

// remoteIP is the connection's client address without its port; the zero Addr (one
// bucket for all) when the listener is not TCP.
func remoteIP(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			return ip.Unmap()
		}
	}
	return netip.Addr{}
}

// limitedConn gives its slot back once, on the first Close.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
