-- Wireshark / tshark dissector for the ANTS capsule router's wire format, version 1
-- (docs/wire.md; the layouts are those of router/src/wire/).
--
-- Decodes every frame kind: 1 capsule, 2 code request (with and without cookie), 3 code
-- fragment, 4 code missing, 5 code cookie, 6 code announce, 7 hello. Registered on UDP port
-- 3322 (the daemon's default port) and, for other UDP ports, heuristically by the magic "AN",
-- version 1 and a known kind.
--
--   tshark -r a1--l1.pcap -X lua_script:tools/wireshark/ants.lua
--   wireshark -X lua_script:tools/wireshark/ants.lua a1--l1.pcap
--
-- or copy it into Wireshark's personal Lua plugins folder. Every rule of docs/wire.md that a
-- frame breaks is shown as an expert warning and in the field `ants.error`, under the error's
-- name (`truncated`, `length_mismatch`, ...), as the node counts it. See docs/wireshark.md.

local ants = Proto("ants", "ANTS capsule router")

local PORT = 3322
local MAX_CODE_FRAME_LEN = 1232
local COOKIE_LEN = 16

local KINDS = {
    [1] = "Capsule",
    [2] = "Code request",
    [3] = "Code fragment",
    [4] = "Code missing",
    [5] = "Code cookie",
    [6] = "Code announce",
    [7] = "Hello",
}
local ALGORITHMS = { [1] = "SHA-256", [2] = "MD5" }
local FINGERPRINT_LEN = { [1] = 32, [2] = 16 }

local f = ants.fields
-- Common prefix.
f.magic = ProtoField.string("ants.magic", "Magic")
f.version = ProtoField.uint8("ants.version", "Version")
f.kind = ProtoField.uint8("ants.kind", "Kind", base.DEC, KINDS)
f.flags = ProtoField.uint8("ants.flags", "Flags", base.HEX)
f.flag_cookie = ProtoField.bool("ants.flags.cookie", "Cookie follows", 8, nil, 0x01)
f.flag_v6 = ProtoField.bool("ants.flags.v6", "Routes are IPv6", 8, nil, 0x01)
f.algorithm = ProtoField.uint8("ants.algorithm", "Fingerprint algorithm", base.DEC, ALGORITHMS)
f.reserved = ProtoField.bytes("ants.reserved", "Reserved")
f.fingerprint = ProtoField.bytes("ants.fingerprint", "Type fingerprint")
-- Capsule.
f.families = ProtoField.uint8("ants.families", "Address families", base.HEX)
f.family_source = ProtoField.bool("ants.families.source_v6", "Source is IPv6", 8, nil, 0x01)
f.family_destination = ProtoField.bool("ants.families.destination_v6", "Destination is IPv6", 8, nil, 0x02)
f.family_previous = ProtoField.bool("ants.families.previous_v6", "Previous node is IPv6", 8, nil, 0x04)
f.budget = ProtoField.uint16("ants.budget", "Resource budget")
f.payload_len = ProtoField.uint16("ants.payload_len", "Payload length")
f.source = ProtoField.ipv4("ants.source", "Source")
f.source6 = ProtoField.ipv6("ants.source6", "Source")
f.destination = ProtoField.ipv4("ants.destination", "Destination")
f.destination6 = ProtoField.ipv6("ants.destination6", "Destination")
f.previous = ProtoField.ipv4("ants.previous", "Previous active node")
f.previous6 = ProtoField.ipv6("ants.previous6", "Previous active node")
f.payload = ProtoField.bytes("ants.payload", "Payload")
-- Code request.
f.first = ProtoField.uint16("ants.request.first", "First fragment index")
f.mask_len = ProtoField.uint16("ants.request.mask_len", "Mask length")
f.mask = ProtoField.bytes("ants.request.mask", "Mask")
f.wanted = ProtoField.string("ants.request.wanted", "Fragments wanted")
f.cookie = ProtoField.bytes("ants.cookie", "Cookie")
-- Code fragment.
f.module_len = ProtoField.uint32("ants.fragment.module_len", "Total module length")
f.index = ProtoField.uint16("ants.fragment.index", "Fragment index")
f.count = ProtoField.uint16("ants.fragment.count", "Fragment count")
f.data_len = ProtoField.uint16("ants.fragment.data_len", "Data length")
f.data = ProtoField.bytes("ants.fragment.data", "Data")
-- Hello.
f.interval = ProtoField.uint16("ants.hello.interval", "Hello interval (ms)")
f.sequence = ProtoField.uint32("ants.hello.sequence", "Sequence")
f.route_count = ProtoField.uint16("ants.hello.route_count", "Route count")
f.route = ProtoField.none("ants.hello.route", "Route")
f.route_destination = ProtoField.ipv4("ants.hello.destination", "Destination")
f.route_destination6 = ProtoField.ipv6("ants.hello.destination6", "Destination")
f.metric = ProtoField.uint8("ants.hello.metric", "Metric (active hops, 16 unreachable)")
-- What was wrong, by the node's counter name.
f.error = ProtoField.string("ants.error", "Error")

local e_malformed = ProtoExpert.new("ants.malformed", "Frame breaks a rule of docs/wire.md",
    expert.group.MALFORMED, expert.severity.WARN)
ants.experts = { e_malformed }

-- Marks the frame as breaking rule `name` (the node's counter name) with `message`.
local function reject(tree, range, name, message)
    tree:add(f.error, name):set_generated()
    tree:add_proto_expert_info(e_malformed, name .. ": " .. message)
    return name
end

local function hex(range)
    return range:bytes():tohex():lower()
end

local function short_hex(range)
    local h = hex(range)
    return h:sub(1, 8) .. "…"
end

-- Checks that the frame is exactly `want` bytes long.
local function exact_length(tree, buf, want)
    if buf:len() < want then
        return reject(tree, buf(), "truncated",
            string.format("frame truncated: need %d bytes, have %d", want, buf:len()))
    elseif buf:len() > want then
        return reject(tree, buf(), "length_mismatch",
            string.format("%d bytes follow the end of the frame", buf:len() - want))
    end
    return nil
end

local function reserved_zero(tree, range)
    tree:add(f.reserved, range)
    for i = 0, range:len() - 1 do
        if range(i, 1):uint() ~= 0 then
            return reject(tree, range, "reserved_not_zero", "a reserved byte is not 0")
        end
    end
    return nil
end

local function address(tree, buf, offset, v6, field4, field6)
    if v6 then
        tree:add(field6, buf(offset, 16))
        return offset + 16, tostring(buf(offset, 16):ipv6())
    end
    tree:add(field4, buf(offset, 4))
    return offset + 4, tostring(buf(offset, 4):ipv4())
end

local function dissect_capsule(buf, tree, fl)
    if buf:len() < 12 then
        return reject(tree, buf(), "truncated", "frame truncated before the capsule header")
    end
    local families = buf(6, 1):uint()
    local ft = tree:add(f.families, buf(6, 1))
    ft:add(f.family_source, buf(6, 1))
    ft:add(f.family_destination, buf(6, 1))
    ft:add(f.family_previous, buf(6, 1))
    if bit.band(families, 0xf8) ~= 0 then
        return reject(tree, buf(6, 1), "bad_address_family", "bits 3 to 7 of the families byte are set")
    end
    local err = reserved_zero(tree, buf(7, 1))
    if err then return err end
    tree:add(f.budget, buf(8, 2))
    tree:add(f.payload_len, buf(10, 2))
    local budget, len = buf(8, 2):uint(), buf(10, 2):uint()
    local sv6 = bit.band(families, 1) ~= 0
    local dv6 = bit.band(families, 2) ~= 0
    local pv6 = bit.band(families, 4) ~= 0
    local header = 12 + fl + (sv6 and 16 or 4) + (dv6 and 16 or 4) + (pv6 and 16 or 4)
    err = exact_length(tree, buf, header + len)
    if err then return err end
    tree:add(f.fingerprint, buf(12, fl))
    local offset, src, dst = 12 + fl, nil, nil
    offset, src = address(tree, buf, offset, sv6, f.source, f.source6)
    offset, dst = address(tree, buf, offset, dv6, f.destination, f.destination6)
    offset = address(tree, buf, offset, pv6, f.previous, f.previous6)
    if len > 0 then
        tree:add(f.payload, buf(offset, len))
    end
    return nil, string.format("Capsule %s → %s budget=%d type=%s payload=%d",
        src, dst, budget, short_hex(buf(12, fl)), len)
end

local function wanted_text(first, mask)
    if mask:len() == 0 then
        return string.format("every fragment from %d on", first)
    end
    local wanted = {}
    for i = 0, mask:len() - 1 do
        local byte = mask(i, 1):uint()
        for b = 0, 7 do
            if bit.band(byte, bit.rshift(0x80, b)) ~= 0 then
                wanted[#wanted + 1] = tostring(first + i * 8 + b)
            end
        end
    end
    return table.concat(wanted, ",")
end

local function dissect_request(buf, tree, fl, flags)
    if buf:len() < 12 then
        return reject(tree, buf(), "truncated", "frame truncated before the request header")
    end
    local err = reserved_zero(tree, buf(6, 2))
    if err then return err end
    local first, mask_len = buf(8, 2):uint(), buf(10, 2):uint()
    tree:add(f.first, buf(8, 2))
    tree:add(f.mask_len, buf(10, 2))
    local c = bit.band(flags, 1) ~= 0 and COOKIE_LEN or 0
    if mask_len > MAX_CODE_FRAME_LEN - 12 - fl - c then
        return reject(tree, buf(10, 2), "mask_too_long", "the mask does not fit in 1232 bytes")
    end
    err = exact_length(tree, buf, 12 + fl + c + mask_len)
    if err then return err end
    tree:add(f.fingerprint, buf(12, fl))
    if c > 0 then
        tree:add(f.cookie, buf(12 + fl, c))
    end
    local wanted = "every fragment from " .. first .. " on"
    if mask_len > 0 then
        local mask = buf(12 + fl + c, mask_len)
        tree:add(f.mask, mask)
        wanted = wanted_text(first, mask)
        -- Bits naming an index above 65535 must be 0.
        for i = 0, mask_len - 1 do
            local byte = mask(i, 1):uint()
            for b = 0, 7 do
                if bit.band(byte, bit.rshift(0x80, b)) ~= 0 and first + i * 8 + b > 65535 then
                    return reject(tree, mask, "mask_out_of_range", "a mask bit names an index above 65535")
                end
            end
        end
    end
    tree:add(f.wanted, wanted):set_generated()
    return nil, string.format("Code request type=%s %s%s", short_hex(buf(12, fl)),
        mask_len == 0 and ("all from " .. first) or ("fragments " .. wanted),
        c > 0 and " (cookie)" or "")
end

local function dissect_fragment(buf, tree, fl)
    if buf:len() < 18 then
        return reject(tree, buf(), "truncated", "frame truncated before the fragment header")
    end
    local err = reserved_zero(tree, buf(6, 2))
    if err then return err end
    local module_len, index = buf(8, 4):uint(), buf(12, 2):uint()
    local count, data_len = buf(14, 2):uint(), buf(16, 2):uint()
    tree:add(f.module_len, buf(8, 4))
    tree:add(f.index, buf(12, 2))
    tree:add(f.count, buf(14, 2))
    tree:add(f.data_len, buf(16, 2))
    if module_len == 0 then
        return reject(tree, buf(8, 4), "module_length_zero", "the total module length is 0")
    elseif module_len > 65535 * 1024 then
        return reject(tree, buf(8, 4), "module_too_long", "more than 65535 fragments of 1024 bytes")
    end
    local expected = math.floor((module_len + 1023) / 1024)
    if count ~= expected then
        return reject(tree, buf(14, 2), "fragment_count_mismatch",
            string.format("count %d, but %d bytes make %d fragments", count, module_len, expected))
    elseif index >= count then
        return reject(tree, buf(12, 2), "fragment_index_out_of_range",
            string.format("index %d is not below the count %d", index, count))
    end
    local want = (index + 1 < count) and 1024 or (module_len - 1024 * (count - 1))
    if data_len ~= want then
        return reject(tree, buf(16, 2), "fragment_length_invalid",
            string.format("fragment %d carries %d data bytes; it must carry %d", index, data_len, want))
    end
    err = exact_length(tree, buf, 18 + fl + data_len)
    if err then return err end
    tree:add(f.fingerprint, buf(18, fl))
    tree:add(f.data, buf(18 + fl, data_len))
    return nil, string.format("Code fragment type=%s %d/%d (%d of %d bytes)",
        short_hex(buf(18, fl)), index, count, data_len, module_len)
end

-- Code missing, code cookie and code announce: reserved, fingerprint, and a cookie for kind 5.
local function dissect_short(buf, tree, fl, kind)
    local c = (kind == 5) and COOKIE_LEN or 0
    if buf:len() < 8 + fl + c then
        return reject(tree, buf(), "truncated",
            string.format("frame truncated: need %d bytes, have %d", 8 + fl + c, buf:len()))
    end
    local err = reserved_zero(tree, buf(6, 2))
    if err then return err end
    err = exact_length(tree, buf, 8 + fl + c)
    if err then return err end
    tree:add(f.fingerprint, buf(8, fl))
    if c > 0 then
        tree:add(f.cookie, buf(8 + fl, c))
    end
    return nil, string.format("%s type=%s", KINDS[kind], short_hex(buf(8, fl)))
end

local function dissect_hello(buf, tree, flags)
    if buf:len() < 16 then
        return reject(tree, buf(), "truncated", "frame truncated before the hello header")
    end
    local interval, sequence = buf(6, 2):uint(), buf(8, 4):uint()
    local count = buf(12, 2):uint()
    tree:add(f.interval, buf(6, 2))
    tree:add(f.sequence, buf(8, 4))
    tree:add(f.route_count, buf(12, 2))
    local err = reserved_zero(tree, buf(14, 2))
    if err then return err end
    if interval == 0 then
        return reject(tree, buf(6, 2), "hello_interval_zero", "the hello interval is 0 ms")
    end
    local v6 = bit.band(flags, 1) ~= 0
    local entry = v6 and 17 or 5
    -- A hello of another length than its count says is length_mismatch, shorter or longer.
    if buf:len() ~= 16 + count * entry then
        return reject(tree, buf(), "length_mismatch",
            string.format("%d routes make %d bytes, the frame has %d", count, 16 + count * entry, buf:len()))
    end
    for i = 0, count - 1 do
        local o = 16 + i * entry
        local rt = tree:add(f.route, buf(o, entry))
        local addr
        if v6 then
            rt:add(f.route_destination6, buf(o, 16))
            addr = tostring(buf(o, 16):ipv6())
        else
            rt:add(f.route_destination, buf(o, 4))
            addr = tostring(buf(o, 4):ipv4())
        end
        local metric = buf(o + entry - 1, 1):uint()
        rt:add(f.metric, buf(o + entry - 1, 1))
        rt:append_text(string.format(": %s metric %d", addr, metric))
        if metric > 16 then
            return reject(rt, buf(o + entry - 1, 1), "bad_metric", "a route's metric is above 16")
        end
    end
    return nil, string.format("Hello seq=%d interval=%dms routes=%d", sequence, interval, count)
end

-- Dissects one frame; returns the bytes consumed.
local function dissect(buf, pinfo, root)
    pinfo.cols.protocol = "ANTS"
    local tree = root:add(ants, buf())
    if buf:len() < 6 then
        reject(tree, buf(), "truncated", "shorter than the 6-byte prefix")
        pinfo.cols.info = "ANTS truncated"
        return buf:len()
    end
    tree:add(f.magic, buf(0, 2))
    if buf(0, 2):uint() ~= 0x414e then
        reject(tree, buf(0, 2), "bad_magic", "the first two bytes are not 41 4e")
        pinfo.cols.info = "ANTS bad_magic"
        return buf:len()
    end
    tree:add(f.version, buf(2, 1))
    local version, kind = buf(2, 1):uint(), buf(3, 1):uint()
    local flags, algorithm = buf(4, 1):uint(), buf(5, 1):uint()
    local err, info
    if version ~= 1 then
        err = reject(tree, buf(2, 1), "unsupported_version", "version " .. version .. " is not 1")
    else
        tree:add(f.kind, buf(3, 1))
        local ft = tree:add(f.flags, buf(4, 1))
        if kind == 2 then ft:add(f.flag_cookie, buf(4, 1)) end
        if kind == 7 then ft:add(f.flag_v6, buf(4, 1)) end
        tree:add(f.algorithm, buf(5, 1))
        local defined = (kind == 2 or kind == 7) and 1 or 0
        local fl = FINGERPRINT_LEN[algorithm]
        if KINDS[kind] == nil then
            err = reject(tree, buf(3, 1), "unknown_kind", "kind " .. kind .. " is not 1 to 7")
        elseif bit.band(flags, bit.bnot(defined)) ~= 0 then
            err = reject(tree, buf(4, 1), "unknown_flags", string.format("flags 0x%02x", flags))
        elseif fl == nil then
            err = reject(tree, buf(5, 1), "unknown_algorithm", "algorithm " .. algorithm)
        elseif kind >= 2 and buf:len() > MAX_CODE_FRAME_LEN then
            err = reject(tree, buf(), "frame_too_long", "frames of kinds 2 to 7 are at most 1232 bytes")
        elseif kind == 1 then
            err, info = dissect_capsule(buf, tree, fl)
        elseif kind == 2 then
            err, info = dissect_request(buf, tree, fl, flags)
        elseif kind == 3 then
            err, info = dissect_fragment(buf, tree, fl)
        elseif kind == 7 then
            err, info = dissect_hello(buf, tree, flags)
        else
            err, info = dissect_short(buf, tree, fl, kind)
        end
    end
    if err then
        pinfo.cols.info = string.format("ANTS %s: %s", KINDS[kind] or ("kind " .. kind), err)
    else
        tree:append_text(", " .. info)
        pinfo.cols.info = info
    end
    return buf:len()
end

function ants.dissector(buf, pinfo, root)
    return dissect(buf, pinfo, root)
end

-- Heuristic: magic "AN", version 1 and a known kind, on any UDP port.
local function heuristic(buf, pinfo, root)
    if buf:len() < 6 or buf(0, 2):uint() ~= 0x414e or buf(2, 1):uint() ~= 1 then
        return false
    end
    if KINDS[buf(3, 1):uint()] == nil then
        return false
    end
    dissect(buf, pinfo, root)
    return true
end

DissectorTable.get("udp.port"):add(PORT, ants)
ants:register_heuristic("udp", heuristic)
