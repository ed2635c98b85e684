package dev.wxseal.examples;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import jakarta.servlet.Filter;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ReadListener;
import jakarta.servlet.ServletInputStream;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.WriteListener;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A minimal bridge that serves {@link com.sun.net.httpserver.HttpServer} exchanges through a
 * Jakarta {@link Filter} and an application handler, without a servlet container (Debian 12 ships
 * no Jakarta Jetty). {@link HttpServletRequest} and {@link HttpServletResponse} are
 * {@link java.lang.reflect.Proxy} objects that implement only the methods a filter and a simple
 * handler use; any other method throws {@link UnsupportedOperationException}, so a test notices.
 * For tests and examples only: a real deployment registers {@code WxsealFilter} in its container.
 */
public final class HttpServerServletAdapter implements HttpHandler {

    /** The application behind the filter (a servlet's service method, in effect). */
    public interface Handler {
        void handle(HttpServletRequest req, HttpServletResponse res) throws Exception;
    }

    private final Filter filter;
    private final Handler app;

    public HttpServerServletAdapter(Filter filter, Handler app) {
        this.filter = filter;
        this.app = app;
    }

    @Override
    public void handle(HttpExchange ex) throws IOException {
        try {
            HttpServletRequest req = request(ex);
            Resp state = new Resp();
            HttpServletResponse res = response(state);
            FilterChain chain = (rq, rs) -> {
                try { app.handle((HttpServletRequest) rq, (HttpServletResponse) rs); }
                catch (IOException | RuntimeException e) { throw e; }
                catch (Exception e) { throw new jakarta.servlet.ServletException(e); }
            };
            filter.doFilter(req, res, chain);
            byte[] body = state.body.toByteArray();
            for (Map.Entry<String, List<String>> h : state.headers.entrySet())
                for (String v : h.getValue()) ex.getResponseHeaders().add(h.getKey(), v);
            if (state.contentType != null) ex.getResponseHeaders().set("Content-Type", state.contentType);
            ex.sendResponseHeaders(state.status, body.length == 0 ? -1 : body.length);
            if (body.length > 0) try (OutputStream o = ex.getResponseBody()) { o.write(body); }
        } catch (Exception e) {
            e.printStackTrace();
            ex.sendResponseHeaders(500, -1);
        } finally {
            ex.close();
        }
    }

    // ---------------------------------------------------------------- request

    private static UnsupportedOperationException unsupported(Method m) {
        return new UnsupportedOperationException("HttpServerServletAdapter does not implement " + m.getName());
    }

    static HttpServletRequest request(HttpExchange ex) {
        Map<String, Object> attributes = new HashMap<>();
        // header names lower-cased; repeated headers keep every value
        Map<String, List<String>> headers = new LinkedHashMap<>();
        ex.getRequestHeaders().forEach((k, v) -> headers.computeIfAbsent(k.toLowerCase(Locale.ROOT), x -> new ArrayList<>()).addAll(v));
        InputStream body = ex.getRequestBody();
        ServletInputStream sin = new ServletInputStream() {
            boolean finished;
            @Override public int read() throws IOException { int c = body.read(); if (c < 0) finished = true; return c; }
            @Override public int read(byte[] b, int off, int len) throws IOException {
                int n = body.read(b, off, len); if (n < 0) finished = true; return n;
            }
            @Override public boolean isFinished() { return finished; }
            @Override public boolean isReady() { return true; }
            @Override public void setReadListener(ReadListener l) { throw new UnsupportedOperationException(); }
        };
        InvocationHandler h = (proxy, m, a) -> {
            switch (m.getName()) {
                case "getMethod": return ex.getRequestMethod();
                case "getRequestURI": return ex.getRequestURI().getRawPath();
                case "getQueryString": return ex.getRequestURI().getRawQuery();
                case "getHeader": { List<String> v = headers.get(((String) a[0]).toLowerCase(Locale.ROOT)); return v == null ? null : v.get(0); }
                case "getHeaders": {
                    List<String> v = headers.get(((String) a[0]).toLowerCase(Locale.ROOT));
                    return Collections.enumeration(v == null ? List.<String>of() : v);
                }
                case "getHeaderNames": return Collections.enumeration(new ArrayList<>(headers.keySet()));
                case "getInputStream": return sin;
                case "getContentType": { List<String> v = headers.get("content-type"); return v == null ? null : v.get(0); }
                case "getContentLength": { List<String> v = headers.get("content-length"); return v == null ? -1 : Integer.parseInt(v.get(0).trim()); }
                case "getAttribute": return attributes.get((String) a[0]);
                case "setAttribute": attributes.put((String) a[0], a[1]); return null;
                case "removeAttribute": attributes.remove((String) a[0]); return null;
                case "getAttributeNames": return Collections.enumeration(new ArrayList<>(attributes.keySet()));
                case "getRemoteAddr": return ex.getRemoteAddress().getAddress().getHostAddress();
                case "getProtocol": return ex.getProtocol();
                case "getScheme": return "http";
                case "hashCode": return System.identityHashCode(proxy);
                case "equals": return proxy == a[0];
                case "toString": return "HttpServletRequest(" + ex.getRequestMethod() + " " + ex.getRequestURI() + ")";
                default: throw unsupported(m);
            }
        };
        return (HttpServletRequest) Proxy.newProxyInstance(HttpServerServletAdapter.class.getClassLoader(),
            new Class<?>[] {HttpServletRequest.class}, h);
    }

    // ---------------------------------------------------------------- response

    private static final class Resp {
        int status = 200;
        String contentType;
        final Map<String, List<String>> headers = new LinkedHashMap<>();
        final ByteArrayOutputStream body = new ByteArrayOutputStream();
    }

    private static HttpServletResponse response(Resp s) {
        ServletOutputStream out = new ServletOutputStream() {
            @Override public void write(int b) { s.body.write(b); }
            @Override public void write(byte[] b, int off, int len) { s.body.write(b, off, len); }
            @Override public boolean isReady() { return true; }
            @Override public void setWriteListener(WriteListener l) { throw new UnsupportedOperationException(); }
        };
        InvocationHandler h = (proxy, m, a) -> {
            switch (m.getName()) {
                case "setStatus": s.status = (Integer) a[0]; return null;
                case "getStatus": return s.status;
                case "setContentType": s.contentType = (String) a[0]; return null;
                case "getContentType": return s.contentType;
                case "setHeader": {
                    String name = (String) a[0];
                    if (name.equalsIgnoreCase("content-type")) { s.contentType = (String) a[1]; return null; }
                    if (name.equalsIgnoreCase("content-length")) return null;
                    s.headers.keySet().removeIf(k -> k.equalsIgnoreCase(name));
                    if (a[1] != null) s.headers.computeIfAbsent(name, k -> new ArrayList<>()).add((String) a[1]);
                    return null;
                }
                case "addHeader": {
                    String name = (String) a[0];
                    if (name.equalsIgnoreCase("content-length")) return null;
                    s.headers.computeIfAbsent(name, k -> new ArrayList<>()).add((String) a[1]);
                    return null;
                }
                case "setContentLength": case "setContentLengthLong": case "flushBuffer": case "setBufferSize": return null;
                case "getOutputStream": return out;
                case "isCommitted": return false;
                case "getCharacterEncoding": return "UTF-8";
                case "hashCode": return System.identityHashCode(proxy);
                case "equals": return proxy == a[0];
                case "toString": return "HttpServletResponse";
                default: throw unsupported(m);
            }
        };
        return (HttpServletResponse) Proxy.newProxyInstance(HttpServerServletAdapter.class.getClassLoader(),
            new Class<?>[] {HttpServletResponse.class}, h);
    }
}
