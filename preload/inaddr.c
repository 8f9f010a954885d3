#include "inaddr.h"

#include <netinet/in.h>

size_t inaddr_bytes(const struct sockaddr *sa, const unsigned char **p)
{
	if (sa->sa_family == AF_INET) {
		*p = (const unsigned char *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr;
		return 4;
	}
	if (sa->sa_family == AF_INET6) {
		*p = (const unsigned char *)&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		return 16;
	}
	return 0;
}

unsigned short inaddr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
	return 0;
}
