package dev.wxseal.examples;

import com.sun.net.httpserver.HttpServer;
import dev.wxseal.MemoryNonceStore;
import dev.wxseal.NonceStore;
import dev.wxseal.RedisNonceStore;
import dev.wxseal.Verifier;
import dev.wxseal.servlet.WxsealFilter;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Executors;

/**
 * An example server: {@link WxsealFilter} in front of a handler that echoes what it was handed
 * (key id, mode, identity, content type, method, path, plaintext body), served by the JDK's
 * HttpServer through {@link HttpServerServletAdapter}.
 *
 * <pre>
 * java -cp build/wxseal.jar:build/examples.jar:/usr/share/java/jakarta-servlet-api.jar dev.wxseal.examples.ExampleServer \
 *     --port 8080 --credential bff-1:SECRET_B64U --server-key sk-0123:server-private.pem [--server-key ...] \
 *     [--redis 127.0.0.1:6379[:prefix]] [--session-key-cache ENTRIES] [--stats]
 * </pre>
 *
 * Prints {@code listening on PORT} when ready. With {@code --stats}, {@code GET /_wxseal/stats}
 * (outside the filter, unauthenticated: for tests only) answers {@code {"unwraps":N}}.
 */
public final class ExampleServer {
    public static void main(String[] args) throws Exception {
        int port = 8080;
        boolean stats = false;
        Verifier.Builder b = Verifier.builder();
        NonceStore nonces = new MemoryNonceStore();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--port": port = Integer.parseInt(args[++i]); break;
                case "--credential": {
                    String[] kv = args[++i].split(":", 2);
                    b.credential(kv[0], Base64.getUrlDecoder().decode(kv[1]));
                    break;
                }
                case "--server-key": {
                    String[] kv = args[++i].split(":", 2);
                    b.serverKeyPem(kv[0], Files.readString(Path.of(kv[1]), StandardCharsets.UTF_8));
                    break;
                }
                case "--redis": {
                    String[] p = args[++i].split(":", 3);
                    nonces = new RedisNonceStore(p[0], Integer.parseInt(p[1]), p.length > 2 ? p[2] : "wxseal:nonce:", 1000, 1000, 0, null);
                    break;
                }
                case "--stats": stats = true; break;
                case "--session-key-cache": b.sessionKeyCache(Integer.parseInt(args[++i]), 300); break;
                default: throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        Verifier verifier = b.nonceStore(nonces).build();
        WxsealFilter filter = new WxsealFilter(verifier);

        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 64);
        server.createContext("/", new HttpServerServletAdapter(filter, (req, res) -> {
            // the application: trusts what the filter hands on
            byte[] body;
            try (InputStream in = req.getInputStream()) { body = in.readAllBytes(); }
            Map<String, Object> echo = new LinkedHashMap<>();
            echo.put("keyId", req.getAttribute(WxsealFilter.ATTR_KEY_ID));
            echo.put("mode", req.getAttribute(WxsealFilter.ATTR_MODE));
            echo.put("identity", req.getAttribute(WxsealFilter.ATTR_IDENTITY));
            echo.put("contentType", req.getContentType());
            echo.put("method", req.getMethod());
            echo.put("path", req.getRequestURI());
            echo.put("body", new String(body, StandardCharsets.UTF_8));
            res.setStatus(req.getRequestURI().endsWith("/created") ? 201 : 200);
            res.setContentType("application/json");
            res.setHeader("X-Example", "echo");
            OutputStream out = res.getOutputStream();
            out.write(json(echo).getBytes(StandardCharsets.UTF_8));
        }));
        if (stats) {
            server.createContext("/_wxseal/stats", ex -> {
                byte[] out = ("{\"unwraps\":" + verifier.unwrapCount() + "}").getBytes(StandardCharsets.UTF_8);
                ex.getResponseHeaders().set("Content-Type", "application/json");
                ex.sendResponseHeaders(200, out.length);
                try (OutputStream o = ex.getResponseBody()) { o.write(out); }
            });
        }
        server.setExecutor(Executors.newFixedThreadPool(4));
        server.start();
        System.out.println("listening on " + server.getAddress().getPort());
        System.out.flush();
    }

    /** A small JSON writer for the echo (strings, maps, null). */
    static String json(Object v) {
        if (v == null) return "null";
        if (v instanceof Map) {
            StringBuilder s = new StringBuilder("{");
            for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
                if (s.length() > 1) s.append(',');
                s.append(json(String.valueOf(e.getKey()))).append(':').append(json(e.getValue()));
            }
            return s.append('}').toString();
        }
        String str = v.toString();
        StringBuilder s = new StringBuilder("\"");
        for (char c : str.toCharArray()) {
            if (c == '"' || c == '\\') s.append('\\').append(c);
            else if (c < 0x20) s.append(String.format("\\u%04x", (int) c));
            else s.append(c);
        }
        return s.append('"').toString();
    }
}
