package dev.wxseal;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * An HTTP request as the verifier sees it: the method and the request target exactly as on the
 * request line (raw path and raw query, never decoded), every header value as received (a repeated
 * header keeps every value: SPEC 4 refuses repeats), and the body bytes as sent.
 */
public final class WxsealRequest {
    private final String method, target;
    private final Map<String, List<String>> headers = new LinkedHashMap<>();
    private byte[] body = new byte[0];

    public WxsealRequest(String method, String target) {
        this.method = method;
        this.target = target;
    }

    /** Add one received value of a header (names are case-insensitive). */
    public WxsealRequest header(String name, String value) {
        headers.computeIfAbsent(name.toLowerCase(Locale.ROOT), k -> new ArrayList<>()).add(value);
        return this;
    }

    public WxsealRequest headers(Map<String, String> single) {
        single.forEach(this::header);
        return this;
    }

    public WxsealRequest body(byte[] body) {
        this.body = body == null ? new byte[0] : body;
        return this;
    }

    public String method() { return method; }
    public String target() { return target; }
    public byte[] body() { return body; }

    /** Every value received for a header (lower-case name), or null when absent. */
    public List<String> values(String lowerName) {
        List<String> v = headers.get(lowerName);
        return v == null ? null : Collections.unmodifiableList(v);
    }

    /** The first value of a header, or null. */
    public String first(String lowerName) {
        List<String> v = headers.get(lowerName);
        return v == null ? null : v.get(0);
    }
}
