package standin

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// downstream is the client's address as the connection manager decided it
// (Envoy's downstream remote address), which is what the source.*
// attributes report.
type downstream struct {
	addr netip.AddrPort
	ip   bool   // addr is set; false for a peer that is not an IP socket
	raw  string // the peer as the listener reported it, when ip is false
}

// String renders the address as Envoy's Address::Instance::asString does:
// "ip:port" or "[ipv6]:port". An address taken from x-forwarded-for has
// port 0.
func (d downstream) String() string {
	if !d.ip {
		return d.raw
	}
	return d.addr.String()
}

// clientAddress is the part of the connection manager's
// mutateRequestHeaders that concerns the client: x-forwarded-for,
// x-forwarded-proto, x-envoy-external-address and the downstream remote
// address. It runs before any filter, on the headers as received.
func (p *Proxy) clientAddress(h *headerMap, remoteAddr, scheme string) downstream {
	peer := downstream{raw: remoteAddr}
	if ap, err := netip.ParseAddrPort(remoteAddr); err == nil && ap.Addr().Zone() == "" {
		peer = downstream{addr: ap, ip: true}
	}
	// x-forwarded-for is an inline header: repeated lines arrive joined.
	xff, hasXFF := joinValues(h, "x-forwarded-for")
	client := peer
	hops := p.cfg.XFFNumTrustedHops
	if !p.cfg.UseRemoteAddress {
		// Without use_remote_address Envoy trusts x-forwarded-for as it is.
		if hasXFF {
			if a, ok := lastXFFAddress(xff, hops); ok {
				client = downstream{addr: netip.AddrPortFrom(a, 0), ip: true}
			}
		}
		if !h.has("x-forwarded-proto") {
			h.add("x-forwarded-proto", scheme)
		}
		return client
	}
	if hops > 0 && hasXFF {
		// The last hops-1 entries name trusted proxies, written by the ones
		// nearer to us; the entry before them is the peer that the
		// outermost trusted proxy saw.
		if a, ok := lastXFFAddress(xff, hops-1); ok {
			client = downstream{addr: netip.AddrPortFrom(a, 0), ip: true}
		}
	}
	if peer.ip {
		appended := peer.addr.Addr()
		if isLoopback(appended) {
			appended = p.localAddr
		}
		if xff != "" {
			xff += "," + appended.String()
		} else {
			xff = appended.String()
		}
		h.set("x-forwarded-for", xff)
	}
	if hops == 0 || !h.has("x-forwarded-proto") {
		h.set("x-forwarded-proto", scheme)
	}
	// Without internal_address_config (envoy.yaml sets none) current Envoy
	// counts no address as internal, so every request is an edge request
	// and gets the client's address here, whatever the trusted hops.
	if client.ip {
		h.set("x-envoy-external-address", client.addr.Addr().String())
	}
	return client
}

// joinValues replaces repeated values of key by one comma-joined value.
func joinValues(h *headerMap, key string) (string, bool) {
	var vals []string
	for _, e := range h.entries {
		if e.key == key {
			vals = append(vals, e.value)
		}
	}
	if len(vals) == 0 {
		return "", false
	}
	joined := strings.Join(vals, ",")
	if len(vals) > 1 {
		h.set(key, joined)
	}
	return joined, true
}

// lastXFFAddress is Utility::getLastAddressFromXFF: skip the last skip
// comma-separated entries, then the entry left at the end must be a bare IP
// address (whitespace around it allowed); anything else yields nothing.
func lastXFFAddress(xff string, skip int) (netip.Addr, bool) {
	for i := 0; i < skip; i++ {
		j := strings.LastIndexByte(xff, ',')
		if j < 0 {
			return netip.Addr{}, false
		}
		xff = xff[:j]
	}
	// A trailing comma leaves the whole rest in place, which then fails to
	// parse, as in Envoy.
	if j := strings.LastIndexByte(xff, ','); j >= 0 && j+1 < len(xff) {
		xff = xff[j+1:]
	}
	a, err := netip.ParseAddr(strings.Trim(xff, " \t\f\v\n\r"))
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a, true
}

// isLoopback is Network::Utility::isLoopbackAddress: 127.0.0.0/8 or ::1.
func isLoopback(a netip.Addr) bool {
	if a.Is4() {
		return a.As4()[0] == 127
	}
	return a == netip.IPv6Loopback()
}

// nodeAddress resolves Config.LocalAddress. Envoy's node address defaults to
// the first non-loopback IPv4 address of the host's interfaces, loopback if
// there is none.
func nodeAddress(configured string) (netip.Addr, error) {
	if configured != "" {
		a, err := netip.ParseAddr(configured)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("standin: LocalAddress: %w", err)
		}
		return a, nil
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("standin: list interface addresses: %w", err)
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if ip.Is4() && !isLoopback(ip) {
			return ip, nil
		}
	}
	return netip.AddrFrom4([4]byte{127, 0, 0, 1}), nil
}
