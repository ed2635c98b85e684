package dev.wxseal;

import java.util.Collections;
import java.util.Map;

/** An HTTP response to send as is: status, headers, body (a sealed or signed answer, or a rejection). */
public final class WxsealResponse {
    private final int status;
    private final Map<String, String> headers;
    private final byte[] body;

    public WxsealResponse(int status, Map<String, String> headers, byte[] body) {
        this.status = status;
        this.headers = Collections.unmodifiableMap(headers);
        this.body = body;
    }

    /** The answer to a rejection (SPEC 10): status, Wxseal-Error, Wxseal-Server-Time, JSON body, signature when signed. */
    public static WxsealResponse rejection(WxsealException e) {
        return new WxsealResponse(e.status(), e.responseHeaders(), e.responseBody());
    }

    public int status() { return status; }
    public Map<String, String> headers() { return headers; }
    public byte[] body() { return body; }
}
