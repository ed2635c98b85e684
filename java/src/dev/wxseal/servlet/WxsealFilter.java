package dev.wxseal.servlet;

import dev.wxseal.Verifier;
import dev.wxseal.VerifiedRequest;
import dev.wxseal.WxsealException;
import dev.wxseal.WxsealRequest;
import dev.wxseal.WxsealResponse;
import jakarta.servlet.Filter;
import jakarta.servlet.FilterChain;
import jakarta.servlet.FilterConfig;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletResponse;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Enumeration;
import java.util.Map;

/**
 * A Jakarta Servlet 5 filter that puts wxseal in front of an application.
 *
 * <p>For each request it verifies per SPEC 9 (body read up to the verifier's limit); a rejection is
 * answered in the format of SPEC 10 and the application never sees the request. A verified request
 * reaches the rest of the chain as a wrapped request whose body is the plaintext and whose
 * Content-Type is the inner content type, with these attributes:
 * <ul>
 * <li>{@value #ATTR_VERIFIED}: the {@link VerifiedRequest}</li>
 * <li>{@value #ATTR_KEY_ID}: the client's key id (String)</li>
 * <li>{@value #ATTR_IDENTITY}: the WeChat identity of SPEC 7 ({@code Map<String,String>}, empty when absent)</li>
 * <li>{@value #ATTR_MODE}: {@code sealed} or {@code signed}</li>
 * </ul>
 * The application's response (status, content type, body) is captured and sent sealed (SPEC 6.3)
 * or signed (SPEC 12); if the application throws, the client still gets an authenticated 500
 * (SPEC 10.2). Other response headers the application sets pass through unauthenticated.
 *
 * <p>Register it programmatically with a verifier ({@code ctx.addFilter("wxseal", new WxsealFilter(verifier))}),
 * or declare it in web.xml and put the {@link Verifier} in the servlet context attribute
 * {@value #CONTEXT_VERIFIER} before the filter is initialised.
 */
public final class WxsealFilter implements Filter {
    public static final String ATTR_VERIFIED = "dev.wxseal.verified";
    public static final String ATTR_KEY_ID = "dev.wxseal.keyId";
    public static final String ATTR_IDENTITY = "dev.wxseal.identity";
    public static final String ATTR_MODE = "dev.wxseal.mode";
    public static final String CONTEXT_VERIFIER = "dev.wxseal.Verifier";

    private volatile Verifier verifier;

    /** For containers that instantiate the filter: the verifier comes from the servlet context in init. */
    public WxsealFilter() {}

    public WxsealFilter(Verifier verifier) { this.verifier = verifier; }

    @Override
    public void init(FilterConfig config) throws ServletException {
        if (verifier != null) return;
        Object v = config.getServletContext().getAttribute(CONTEXT_VERIFIER);
        if (!(v instanceof Verifier))
            throw new ServletException("WxsealFilter: no dev.wxseal.Verifier in servlet context attribute " + CONTEXT_VERIFIER);
        verifier = (Verifier) v;
    }

    public Verifier verifier() { return verifier; }

    @Override
    public void doFilter(ServletRequest request, ServletResponse response, FilterChain chain) throws IOException, ServletException {
        if (!(request instanceof HttpServletRequest) || !(response instanceof HttpServletResponse)) {
            throw new ServletException("WxsealFilter handles HTTP requests only");
        }
        HttpServletRequest req = (HttpServletRequest) request;
        HttpServletResponse res = (HttpServletResponse) response;
        Verifier v = verifier;

        VerifiedRequest verified;
        try {
            // the request target as on the request line: getRequestURI and getQueryString are not decoded
            String query = req.getQueryString();
            WxsealRequest wr = new WxsealRequest(req.getMethod(), req.getRequestURI() + (query == null ? "" : "?" + query));
            for (Enumeration<String> names = req.getHeaderNames(); names != null && names.hasMoreElements(); ) {
                String name = names.nextElement();
                for (Enumeration<String> values = req.getHeaders(name); values.hasMoreElements(); ) wr.header(name, values.nextElement());
            }
            wr.body(v.readBody(req.getHeader("content-length"), req.getInputStream()));
            verified = v.verify(wr);
        } catch (WxsealException e) {
            write(res, WxsealResponse.rejection(e));
            return;
        }

        WxsealRequestWrapper inner = new WxsealRequestWrapper(req, verified);
        inner.setAttribute(ATTR_VERIFIED, verified);
        inner.setAttribute(ATTR_KEY_ID, verified.keyId());
        inner.setAttribute(ATTR_IDENTITY, verified.identity());
        inner.setAttribute(ATTR_MODE, verified.mode());
        CapturingResponse captured = new CapturingResponse(res);
        WxsealResponse answer;
        try {
            chain.doFilter(inner, captured);
            answer = verified.respond(captured.capturedStatus(), captured.capturedContentType(), captured.capturedBody());
        } catch (IOException | ServletException | RuntimeException e) {
            // SPEC 10.2: after the nonce is claimed the client never gets an unsigned answer
            answer = verified.respond(500, "application/json",
                "{\"error\":{\"code\":\"INTERNAL_ERROR\",\"message\":\"the application failed\"}}".getBytes(StandardCharsets.UTF_8));
            captured.resetHeaders();
        }
        write(res, answer);
    }

    private static void write(HttpServletResponse res, WxsealResponse r) throws IOException {
        res.setStatus(r.status());
        for (Map.Entry<String, String> h : r.headers().entrySet()) {
            if (h.getKey().equalsIgnoreCase("content-type")) res.setContentType(h.getValue());
            else res.setHeader(h.getKey(), h.getValue());
        }
        res.setContentLength(r.body().length);
        OutputStream out = res.getOutputStream();
        out.write(r.body());
        out.flush();
    }

    @Override
    public void destroy() {}
}
