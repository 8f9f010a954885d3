# Perl test client: LWP::UserAgent over LWP::Protocol::https (IO::Socket::SSL,
# Net::SSLeay), verifying the peer and its name.
#
#   perl client.pl URL [-H 'Name: value']... --data-file F
#                  [--cafile CA] [--connect ADDR:PORT]
#
# POSTs the file's bytes to URL and prints one JSON line
# {"status": N, "body_base64": ...}. --connect opens the TCP connection to
# ADDR:PORT while SNI, Host and the name check stay URL's host; --cafile
# trusts that CA file instead of the system's. Exit 0 on any HTTP answer,
# 3 on a network or TLS error (message on stderr), 2 on bad usage.
use strict;
use warnings;
use Getopt::Long qw(GetOptions);
use JSON::PP ();
use LWP::UserAgent;
use MIME::Base64 qw(encode_base64);
use URI;

my (@headers, $data_file, $cafile, $connect);
GetOptions("H=s" => \@headers, "data-file=s" => \$data_file, "cafile=s" => \$cafile,
           "connect=s" => \$connect) or exit 2;
my $url = shift @ARGV;
if (!defined $url || !defined $data_file || @ARGV) {
    print STDERR "usage: client.pl URL [-H 'Name: value']... --data-file F"
        . " [--cafile CA] [--connect ADDR:PORT]\n";
    exit 2;
}

my $host = URI->new($url)->host;
my %ssl = (verify_hostname => 1);
$ssl{SSL_ca_file} = $cafile if defined $cafile;
if (defined $connect) {
    # LWP hands ssl_opts to IO::Socket::SSL after its own PeerAddr/PeerPort,
    # so these win; SNI and the name check are set back to URL's host.
    my ($addr, $port) = $connect =~ /^\[?(.*?)\]?:(\d+)$/ or die "bad --connect $connect\n";
    %ssl = (%ssl, PeerAddr => $addr, PeerPort => $port, SSL_hostname => $host,
            SSL_verifycn_name => $host);
}
my $ua = LWP::UserAgent->new(ssl_opts => \%ssl, timeout => 20, agent => "",
                             env_proxy => 0);

open(my $fh, "<:raw", $data_file) or die "client.pl: $data_file: $!\n";
my $body = do { local $/; <$fh> };
close($fh);

my @pairs;
for my $h (@headers) {
    my ($name, $value) = split(/:/, $h, 2);
    s/^\s+|\s+$//g for $name, $value;
    push @pairs, $name, $value;
}
my $res = $ua->post($url, @pairs, Content => $body);
my $warning = $res->header("Client-Warning") // "";
if ($warning eq "Internal response") {
    # LWP's own answer for a request that never got one: a connection error.
    print STDERR "client.pl: ", $res->status_line, "\n", $res->content, "\n";
    exit 3;
}
print JSON::PP->new->canonical->encode(
    {status => $res->code + 0, body_base64 => encode_base64($res->content, "")}), "\n";
exit 0;
