# Ruby test client: Net::HTTP (the openssl extension), verifying the peer.
#
#   ruby client.rb URL [-H 'Name: value']... --data-file F
#                  [--cafile CA] [--connect ADDR:PORT]
#
# POSTs the file's bytes to URL and prints one JSON line
# {"status": N, "body_base64": ...}. --connect opens the TCP connection to
# ADDR:PORT while SNI, Host and the name check stay URL's host; --cafile
# trusts that CA file instead of the system's. Exit 0 on any HTTP answer,
# 3 on a network or TLS error (message on stderr), 2 on bad usage.
require "base64"
require "json"
require "net/http"
require "openssl"
require "uri"

url = nil
headers = []
data_file = cafile = connect = nil
args = ARGV.dup
until args.empty?
  a = args.shift
  case a
  when "-H" then headers << args.shift
  when "--data-file" then data_file = args.shift
  when "--cafile" then cafile = args.shift
  when "--connect" then connect = args.shift
  else
    abort("client.rb: unexpected argument #{a}") if url
    url = a
  end
end
if url.nil? || data_file.nil?
  warn "usage: client.rb URL [-H 'Name: value']... --data-file F" \
       " [--cafile CA] [--connect ADDR:PORT]"
  exit 2
end

uri = URI(url)
if connect
  addr, _, cport = connect.rpartition(":")
  # Net::HTTP connects to ipaddr on its own port: give it the stand-in's
  # port, and keep the URL's authority in the Host header ourselves.
  http = Net::HTTP.new(uri.host, Integer(cport), nil)
  http.ipaddr = addr.delete("[]")
else
  http = Net::HTTP.new(uri.host, uri.port, nil)
end
http.use_ssl = true
http.verify_mode = OpenSSL::SSL::VERIFY_PEER
http.ca_file = cafile if cafile
http.open_timeout = 20
http.read_timeout = 20

req = Net::HTTP::Post.new(uri.request_uri)
headers.each do |h|
  name, value = h.split(":", 2)
  req[name.strip] = value.to_s.strip
end
req["Host"] = uri.port == 443 ? uri.host : "#{uri.host}:#{uri.port}" if connect
req.body = File.binread(data_file)

begin
  res = http.start { |conn| conn.request(req) }
rescue StandardError => e
  warn "client.rb: #{e.class}: #{e.message}"
  exit 3
end
puts JSON.generate({"status" => res.code.to_i,
                    "body_base64" => Base64.strict_encode64(res.body.to_s)})
