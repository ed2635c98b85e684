package dev.wxseal.servlet;

import dev.wxseal.VerifiedRequest;
import jakarta.servlet.ReadListener;
import jakarta.servlet.ServletInputStream;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletRequestWrapper;
import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.InputStreamReader;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Enumeration;
import java.util.List;
import java.util.Locale;

/** The verified request as the application sees it: the plaintext body and its content type. */
final class WxsealRequestWrapper extends HttpServletRequestWrapper {
    private final byte[] body;
    private final String contentType;
    private boolean used;

    WxsealRequestWrapper(HttpServletRequest req, VerifiedRequest v) {
        super(req);
        this.body = v.body();
        this.contentType = v.contentType();
    }

    @Override public String getContentType() { return contentType; }
    @Override public int getContentLength() { return body.length; }
    @Override public long getContentLengthLong() { return body.length; }

    @Override
    public String getCharacterEncoding() {
        if (contentType == null) return null;
        for (String part : contentType.split(";")) {
            String p = part.trim();
            if (p.toLowerCase(Locale.ROOT).startsWith("charset=")) return p.substring(8).replace("\"", "");
        }
        return null;
    }

    @Override
    public String getHeader(String name) {
        if (name.equalsIgnoreCase("content-type")) return contentType;
        if (name.equalsIgnoreCase("content-length")) return Integer.toString(body.length);
        return super.getHeader(name);
    }

    @Override
    public Enumeration<String> getHeaders(String name) {
        if (name.equalsIgnoreCase("content-type"))
            return Collections.enumeration(contentType == null ? List.of() : List.of(contentType));
        if (name.equalsIgnoreCase("content-length")) return Collections.enumeration(List.of(Integer.toString(body.length)));
        return super.getHeaders(name);
    }

    @Override
    public Enumeration<String> getHeaderNames() {
        List<String> names = new ArrayList<>();
        Enumeration<String> e = super.getHeaderNames();
        while (e != null && e.hasMoreElements()) {
            String n = e.nextElement();
            if (!n.equalsIgnoreCase("content-type") && !n.equalsIgnoreCase("content-length")) names.add(n);
        }
        if (contentType != null) names.add("Content-Type");
        names.add("Content-Length");
        return Collections.enumeration(names);
    }

    @Override
    public ServletInputStream getInputStream() {
        if (used) throw new IllegalStateException("getReader or getInputStream already called");
        used = true;
        ByteArrayInputStream in = new ByteArrayInputStream(body);
        return new ServletInputStream() {
            @Override public int read() { return in.read(); }
            @Override public int read(byte[] b, int off, int len) { return in.read(b, off, len); }
            @Override public boolean isFinished() { return in.available() == 0; }
            @Override public boolean isReady() { return true; }
            @Override public void setReadListener(ReadListener l) {
                try { l.onDataAvailable(); l.onAllDataRead(); } catch (java.io.IOException e) { l.onError(e); }
            }
        };
    }

    @Override
    public BufferedReader getReader() {
        if (used) throw new IllegalStateException("getReader or getInputStream already called");
        used = true;
        String enc = getCharacterEncoding();
        Charset cs;
        try { cs = enc == null ? StandardCharsets.UTF_8 : Charset.forName(enc); }
        catch (RuntimeException e) { cs = StandardCharsets.UTF_8; }
        return new BufferedReader(new InputStreamReader(new ByteArrayInputStream(body), cs));
    }
}
