-- SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
-- Wireshark dissector for RDS/TCP (Reliable Datagram Sockets over TCP, the
-- Linux kernel's net/rds and rds-bpf): each record on TCP port 16385 is a
-- 48-byte header (sequence, ack, length, RDS ports, flags, credit, checksum,
-- 16 bytes of extension headers) and h_len bytes of payload. Records are
-- reassembled across TCP segments. It decodes the header fields and flags,
-- the extension headers as the kernel parses them (VERSION, RDMA, RDMA_DEST,
-- RDMA_BYTES, NPATHS, GEN_NUM, SPORT_IDX), congestion maps (the congested
-- ports), the multipath handshake probes and pings. rds.record sums a record
-- up exactly as rds-dissect(8) prints it (the test suite compares the two).
--
-- Installed in Wireshark's global Lua plugin directory (tshark -G folders),
-- or: tshark -X lua_script:rds.lua. Another port: Decode As, or the
-- rds.tcp_port preference (tshark -o rds.tcp_port:N). Records after a hole
-- that TCP later fills need -o tcp.reassemble_out_of_order:TRUE.

local rds = Proto("rds", "Reliable Datagram Sockets over TCP")

local HEADER_SIZE = 48
local EXT_SPACE = 16
local MAX_MSG_SIZE = 1048576 -- what a kernel frames at most
local CONG_MAP_BYTES = 8192 -- one bit per port
local CONG_SHOWN = 8 -- congested ports named in a record's summary
local TCP_PORT = 16385

local FLAG_CONG_BITMAP = 0x01
local FLAG_ACK_REQUIRED = 0x02
local FLAG_RETRANSMITTED = 0x04
local FLAG_EXTHDR_EXTENSION = 0x20
local FLAG_DELIV_ACK = 0x08	-- rds-bpf's own (docs/protocol.md 1.4)
local EXT_DELIV = 0xd0		-- rds-bpf's own, where every kernel's walk ends

-- extension header types and their sizes (the kernel's rds_exthdr_size[]);
-- a type below 16 the table does not know has size 0, 16 and above stop the list
local EXT_NAMES = { [1] = "VERSION", [2] = "RDMA", [3] = "RDMA_DEST", [4] = "RDMA_BYTES",
	[5] = "NPATHS", [6] = "GEN_NUM", [8] = "SPORT_IDX" }
local EXT_SIZES = { [1] = 4, [2] = 4, [3] = 8, [4] = 8, [5] = 2, [6] = 4, [8] = 1 }
local EXT_MAX = 16

local f = rds.fields
f.seq = ProtoField.uint64("rds.seq", "Sequence", base.DEC)
f.ack = ProtoField.uint64("rds.ack", "Ack", base.DEC)
f.len = ProtoField.uint32("rds.len", "Length", base.DEC)
f.sport = ProtoField.uint16("rds.sport", "Source port", base.DEC)
f.dport = ProtoField.uint16("rds.dport", "Destination port", base.DEC)
f.flags = ProtoField.uint8("rds.flags", "Flags", base.HEX)
f.flag_cong = ProtoField.bool("rds.flags.cong_bitmap", "CONG_BITMAP", 8, nil, FLAG_CONG_BITMAP)
f.flag_ackreq = ProtoField.bool("rds.flags.ack_required", "ACK_REQUIRED", 8, nil, FLAG_ACK_REQUIRED)
f.flag_retrans = ProtoField.bool("rds.flags.retransmitted", "RETRANSMITTED", 8, nil, FLAG_RETRANSMITTED)
f.flag_ext = ProtoField.bool("rds.flags.exthdr_extension", "EXTHDR_EXTENSION", 8, nil, FLAG_EXTHDR_EXTENSION)
f.credit = ProtoField.uint8("rds.credit", "Credit", base.DEC)
f.padding = ProtoField.bytes("rds.padding", "Padding")
f.csum = ProtoField.uint16("rds.csum", "Checksum", base.HEX)
f.ext = ProtoField.bytes("rds.ext", "Extension headers")
f.ext_type = ProtoField.uint8("rds.ext.type", "Type", base.DEC, EXT_NAMES)
f.ext_version = ProtoField.uint32("rds.ext.version", "VERSION", base.HEX)
f.ext_rdma = ProtoField.uint32("rds.ext.rdma", "RDMA", base.HEX)
f.ext_rdma_dest = ProtoField.uint64("rds.ext.rdma_dest", "RDMA_DEST", base.HEX)
f.ext_rdma_bytes = ProtoField.uint64("rds.ext.rdma_bytes", "RDMA_BYTES", base.HEX)
f.ext_npaths = ProtoField.uint16("rds.ext.npaths", "NPATHS", base.DEC)
f.ext_gen_num = ProtoField.uint32("rds.ext.gen_num", "GEN_NUM", base.HEX)
f.ext_sport_idx = ProtoField.uint8("rds.ext.sport_idx", "SPORT_IDX", base.DEC)
f.ext_stop = ProtoField.uint8("rds.ext.stop", "The kernel stops at offset", base.DEC)
f.kind = ProtoField.string("rds.kind", "Kind")
f.cong_count = ProtoField.uint32("rds.cong.count", "Congested ports", base.DEC)
f.cong_port = ProtoField.uint16("rds.cong.port", "Congested port", base.DEC)
f.payload = ProtoField.bytes("rds.payload", "Payload")
f.record = ProtoField.string("rds.record", "Record")

local ef_bad_len = ProtoExpert.new("rds.bad_len", "h_len above 1 MiB: no kernel frames it",
	expert.group.MALFORMED, expert.severity.ERROR)
local ef_bad_map = ProtoExpert.new("rds.bad_cong_map", "Congestion map not 8192 bytes: the kernel ignores it",
	expert.group.MALFORMED, expert.severity.WARN)
local ef_bad_ack = ProtoExpert.new("rds.bad_deliv_ack", "rds-bpf delivery acknowledgement not 8 bytes",
	expert.group.MALFORMED, expert.severity.ERROR)
local ef_ext_stop = ProtoExpert.new("rds.ext_stop", "Extension headers end where the kernel stops parsing",
	expert.group.PROTOCOL, expert.severity.NOTE)
rds.experts = { ef_bad_len, ef_bad_map, ef_bad_ack, ef_ext_stop }

rds.prefs.tcp_port = Pref.uint("TCP port", TCP_PORT, "The RDS/TCP port (16385, the kernel's RDS_TCP_PORT)")

local function flags_text(fl)
	local names = { { FLAG_CONG_BITMAP, "CONG_BITMAP" }, { FLAG_ACK_REQUIRED, "ACK_REQUIRED" },
		{ FLAG_RETRANSMITTED, "RETRANSMITTED" }, { FLAG_EXTHDR_EXTENSION, "EXTHDR_EXTENSION" },
		{ FLAG_DELIV_ACK, "DELIV_ACK(rds-bpf)" } }
	local out = {}
	for _, n in ipairs(names) do
		if bit.band(fl, n[1]) ~= 0 then
			out[#out + 1] = n[2]
			fl = bit.band(fl, bit.bnot(n[1]))
		end
	end
	if fl ~= 0 then
		out[#out + 1] = string.format("0x%02x", fl)
	end
	return #out > 0 and table.concat(out, ",") or "-"
end

-- The extension headers as the kernel's parser walks them; their text as rds-dissect writes it.
local function dissect_ext(tvb, tree)
	local t = tree:add(f.ext, tvb)
	local out, pos = {}, 0
	while pos < EXT_SPACE do
		local ty = tvb(pos, 1):uint()
		if ty == 0 or ty >= EXT_MAX then
			break
		end
		local size = EXT_SIZES[ty] or 0
		if pos + 1 + size > EXT_SPACE then
			break
		end
		local d = tvb(pos + 1, size)
		local et = t:add(f.ext_type, tvb(pos, 1))
		if ty == 5 then
			et:add(f.ext_npaths, d)
			out[#out + 1] = "NPATHS=" .. d:uint()
		elseif ty == 8 then
			et:add(f.ext_sport_idx, d)
			out[#out + 1] = "SPORT_IDX=" .. d:uint()
		elseif size == 4 then
			et:add(({ [1] = f.ext_version, [2] = f.ext_rdma, [6] = f.ext_gen_num })[ty], d)
			out[#out + 1] = string.format("%s=0x%08x", EXT_NAMES[ty], d:uint())
		elseif size == 8 then
			et:add(ty == 3 and f.ext_rdma_dest or f.ext_rdma_bytes, d)
			out[#out + 1] = string.format("%s=0x%08x:%08x", EXT_NAMES[ty], d(0, 4):uint(), d(4, 4):uint())
		else -- known to no kernel table: only its type byte is consumed
			out[#out + 1] = "type" .. ty
		end
		pos = pos + 1 + size
	end
	local text = #out > 0 and table.concat(out, ",") or "-"
	if pos + 1 < EXT_SPACE and tvb(pos, 1):uint() == EXT_DELIV then
		text = text .. string.format(",DELIV=0x%02x(rds-bpf)", tvb(pos + 1, 1):uint())
	elseif pos < EXT_SPACE and tvb(pos, 1):uint() ~= 0 then
		t:add(f.ext_stop, tvb(pos, 1), pos)
		t:add_proto_expert_info(ef_ext_stop)
		text = text .. string.format(",stops-at-%u:0x%02x", pos, tvb(pos, 1):uint())
	end
	t:append_text(": " .. text)
	return text
end

-- The ports a congestion map marks, in port order.
local function cong_ports(tvb, tree)
	local n, shown = 0, {}
	for i = 0, tvb:len() - 1 do
		local b = tvb(i, 1):uint()
		local k = 0
		while b ~= 0 do
			if bit.band(b, 1) ~= 0 then
				n = n + 1
				if n <= CONG_SHOWN then
					shown[#shown + 1] = tostring(i * 8 + k)
				end
				tree:add(f.cong_port, tvb(i, 1), i * 8 + k)
			end
			b = bit.rshift(b, 1)
			k = k + 1
		end
	end
	local text = string.format("congestion map (%u ports congested%s%s%s)", n, n > 0 and ":" or "",
		n > 0 and " " .. table.concat(shown, " ") or "", n > CONG_SHOWN and " ..." or "")
	return n, text
end

local function record_kind(fl, sport, dport)
	if fl == FLAG_CONG_BITMAP then
		return "congestion map"
	elseif bit.band(fl, FLAG_DELIV_ACK) ~= 0 and sport == 0 and dport == 0 then
		return "deliv-ack"
	elseif (sport == 1 and dport == 0) or (sport == 0 and dport == 1) then
		return sport == 1 and "probe-ping" or "probe-pong"
	elseif dport == 0 then
		return "ping"
	elseif sport == 0 then
		return "pong"
	end
	return "data"
end

-- one record: the header and its payload, all in tvb
local function dissect_record(tvb, pinfo, tree)
	local len = tvb(16, 4):uint()
	local sport, dport = tvb(20, 2):uint(), tvb(22, 2):uint()
	local fl, csum = tvb(24, 1):uint(), tvb(30, 2):uint()
	local t = tree:add(rds, tvb(0, math.min(tvb:len(), HEADER_SIZE + len)))

	pinfo.cols.protocol = "RDS"
	t:add(f.seq, tvb(0, 8))
	t:add(f.ack, tvb(8, 8))
	local lt = t:add(f.len, tvb(16, 4))
	t:add(f.sport, tvb(20, 2))
	t:add(f.dport, tvb(22, 2))
	local ft = t:add(f.flags, tvb(24, 1))
	ft:append_text(" (" .. flags_text(fl) .. ")")
	ft:add(f.flag_cong, tvb(24, 1))
	ft:add(f.flag_ackreq, tvb(24, 1))
	ft:add(f.flag_retrans, tvb(24, 1))
	ft:add(f.flag_ext, tvb(24, 1))
	t:add(f.credit, tvb(25, 1))
	t:add(f.padding, tvb(26, 4))
	t:add(f.csum, tvb(30, 2))
	local ext = dissect_ext(tvb(32, EXT_SPACE), t)

	local kind = record_kind(fl, sport, dport)
	local text = string.format("seq %s ack %s len %u sport %u dport %u flags %s credit %u%s ext %s",
		tostring(tvb(0, 8):uint64()), tostring(tvb(8, 8):uint64()), len, sport, dport, flags_text(fl),
		tvb(25, 1):uint(), csum ~= 0 and string.format(" csum 0x%04x", csum) or "", ext)
	if len > MAX_MSG_SIZE then
		lt:add_proto_expert_info(ef_bad_len)
		text = text .. string.format(" bad: h_len above %u, the rest of this stream is not decoded", MAX_MSG_SIZE)
		t:add(f.record, text):set_generated()
		return
	end
	local info, tail = kind, kind -- the Info column's words, the record's last ones
	if kind == "congestion map" then
		local n
		n, tail = cong_ports(len > 0 and tvb(HEADER_SIZE) or tvb(0, 0), t)
		t:add(f.cong_count, n):set_generated()
		info = string.format("congestion map, %u ports congested", n)
		if len ~= CONG_MAP_BYTES then
			lt:add_proto_expert_info(ef_bad_map)
			tail = tail .. string.format(" bad: not %u bytes, the kernel ignores it", CONG_MAP_BYTES)
		end
	elseif kind == "deliv-ack" then
		-- rds-bpf's own (docs/protocol.md 1.4): the number delivered up to
		if len == 8 then
			tail = "deliv-ack " .. tostring(tvb(HEADER_SIZE, 8):uint64())
		else
			lt:add_proto_expert_info(ef_bad_ack)
			tail = "deliv-ack bad: not 8 bytes"
		end
		if len > 0 then
			t:add(f.payload, tvb(HEADER_SIZE))
		end
	elseif len > 0 then
		t:add(f.payload, tvb(HEADER_SIZE))
	end
	t:add(f.kind, kind):set_generated()
	t:add(f.record, text .. " " .. tail):set_generated()
	t:append_text(string.format(", %s, seq %s, %u -> %u, len %u", info, tostring(tvb(0, 8):uint64()), sport,
		dport, len))
	pinfo.cols.info:append(string.format(" [%s %u>%u len %u]", info, sport, dport, len))
end

-- a record's whole length, from its header; a header no kernel frames takes
-- the rest of its segment, so the reassembly does not wait for a gigabyte
local function record_length(tvb, pinfo, offset)
	local len = tvb(offset + 16, 4):uint()
	if len > MAX_MSG_SIZE then
		return math.max(HEADER_SIZE, tvb:len() - offset)
	end
	return HEADER_SIZE + len
end

function rds.dissector(tvb, pinfo, tree)
	pinfo.cols.info = "RDS/TCP"
	dissect_tcp_pdus(tvb, tree, HEADER_SIZE, record_length, dissect_record)
	return tvb:len()
end

local registered = TCP_PORT
DissectorTable.get("tcp.port"):add(registered, rds)

function rds.prefs_changed()
	if rds.prefs.tcp_port ~= registered then
		DissectorTable.get("tcp.port"):remove(registered, rds)
		registered = rds.prefs.tcp_port
		DissectorTable.get("tcp.port"):add(registered, rds)
	end
end
