<?php
// PHP test client: the curl extension (libcurl), verifying the peer; with
// --streams, PHP's own TLS streams instead (ext/openssl: the https://
// wrapper, or with --connect an ssl:// socket named for URL's host), which
// check the peer's name themselves.
//
//   php client.php URL [-H 'Name: value']... --data-file F
//                  [--cafile CA] [--connect ADDR:PORT] [--streams]
//
// POSTs the file's bytes to URL and prints one JSON line
// {"status": N, "body_base64": ...}. --connect sends the TCP connection to
// ADDR:PORT (CURLOPT_CONNECT_TO) while SNI, Host and the name check stay
// URL's host; --cafile trusts that CA file instead of the system's. Exit 0 on
// any HTTP answer, 3 on a network or TLS error (message on stderr), 2 on bad
// usage.

$url = null;
$headers = [];
$data_file = $cafile = $connect = null;
$streams = false;
$args = array_slice($argv, 1);
while ($args) {
    $a = array_shift($args);
    if ($a === "-H") {
        $headers[] = array_shift($args);
    } elseif ($a === "--data-file") {
        $data_file = array_shift($args);
    } elseif ($a === "--cafile") {
        $cafile = array_shift($args);
    } elseif ($a === "--connect") {
        $connect = array_shift($args);
    } elseif ($a === "--streams") {
        $streams = true;
    } elseif ($url === null) {
        $url = $a;
    } else {
        fwrite(STDERR, "client.php: unexpected argument $a\n");
        exit(2);
    }
}
if ($url === null || $data_file === null) {
    fwrite(STDERR, "usage: client.php URL [-H 'Name: value']... --data-file F"
           . " [--cafile CA] [--connect ADDR:PORT]\n");
    exit(2);
}

$body = file_get_contents($data_file);

function answer($status, $out)
{
    echo json_encode(["status" => $status, "body_base64" => base64_encode($out)]), "\n";
    exit(0);
}

function fail($what)
{
    $e = error_get_last();
    fwrite(STDERR, "client.php: $what" . ($e ? ": " . $e["message"] : "") . "\n");
    exit(3);
}

// A chunked body, undone.
function dechunk($s)
{
    $out = "";
    while (($nl = strpos($s, "\r\n")) !== false) {
        $n = hexdec(substr($s, 0, $nl));
        if ($n === 0) {
            break;
        }
        $out .= substr($s, $nl + 2, $n);
        $s = substr($s, $nl + 2 + $n + 2);
    }
    return $out;
}

if ($streams) {
    $u = parse_url($url);
    $ssl = ["verify_peer" => true, "verify_peer_name" => true, "peer_name" => $u["host"]];
    if ($cafile !== null) {
        $ssl["cafile"] = $cafile;
    }
    if ($connect === null) {
        $ctx = stream_context_create(["ssl" => $ssl, "http" => [
            "method" => "POST", "header" => implode("\r\n", $headers), "content" => $body,
            "ignore_errors" => true, "protocol_version" => 1.1, "timeout" => 20]]);
        $out = @file_get_contents($url, false, $ctx);
        if ($out === false) {
            fail("https stream failed");
        }
        preg_match('{^HTTP/\S+ (\d+)}', $http_response_header[0], $m);
        answer((int)$m[1], $out);
    }
    $ctx = stream_context_create(["ssl" => $ssl]);
    $s = @stream_socket_client("ssl://$connect", $errno, $errstr, 20,
                               STREAM_CLIENT_CONNECT, $ctx);
    if ($s === false) {
        fail("ssl stream to $connect failed ($errstr)");
    }
    $target = $u["path"] . (isset($u["query"]) ? "?" . $u["query"] : "");
    $head = "POST $target HTTP/1.1\r\nHost: {$u['host']}\r\nConnection: close\r\n"
          . "Content-Length: " . strlen($body) . "\r\n";
    foreach ($headers as $h) {
        $head .= "$h\r\n";
    }
    if (@fwrite($s, "$head\r\n$body") === false) {
        fail("write failed");
    }
    $raw = stream_get_contents($s);
    if ($raw === false || $raw === "") {
        fail("no answer");
    }
    [$rhead, $rbody] = explode("\r\n\r\n", $raw, 2) + ["", ""];
    preg_match('{^HTTP/\S+ (\d+)}', $rhead, $m);
    if (stripos($rhead, "transfer-encoding: chunked") !== false) {
        $rbody = dechunk($rbody);
    }
    answer((int)$m[1], $rbody);
}

$c = curl_init($url);
curl_setopt_array($c, [
    CURLOPT_POST => true,
    CURLOPT_POSTFIELDS => $body,
    CURLOPT_HTTPHEADER => $headers,
    CURLOPT_RETURNTRANSFER => true,
    CURLOPT_SSL_VERIFYPEER => true,
    CURLOPT_SSL_VERIFYHOST => 2,
    CURLOPT_TIMEOUT => 20,
]);
if ($cafile !== null) {
    curl_setopt($c, CURLOPT_CAINFO, $cafile);
}
if ($connect !== null) {
    $u = parse_url($url);
    $port = $u["port"] ?? 443;
    curl_setopt($c, CURLOPT_CONNECT_TO, ["{$u['host']}:$port:$connect"]);
}
$out = curl_exec($c);
if ($out === false) {
    fwrite(STDERR, "client.php: curl error " . curl_errno($c) . ": " . curl_error($c) . "\n");
    exit(3);
}
echo json_encode(["status" => curl_getinfo($c, CURLINFO_RESPONSE_CODE),
                  "body_base64" => base64_encode($out)]), "\n";
exit(0);
