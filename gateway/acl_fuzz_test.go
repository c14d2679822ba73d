package gateway

import (
	"testing"
)

// FuzzParseACL: an AccessControlPolicy body is refused with a 4xx S3 error
// or parsed into an ACL with an owner and valid grants.
func FuzzParseACL(f *testing.F) {
	f.Add([]byte(`<AccessControlPolicy><Owner><ID>A</ID></Owner><AccessControlList><Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser"><ID>A</ID></Grantee><Permission>FULL_CONTROL</Permission></Grant></AccessControlList></AccessControlPolicy>`))
	f.Add([]byte(`<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>A</ID></Owner><AccessControlList><Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group"><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>READ</Permission></Grant></AccessControlList></AccessControlPolicy>`))
	f.Add([]byte(`<AccessControlPolicy><Owner><ID>A</ID></Owner><AccessControlList><Grant><Grantee xsi:type="AmazonCustomerByEmail"><EmailAddress>a@b</EmailAddress></Grantee><Permission>READ</Permission></Grant></AccessControlList></AccessControlPolicy>`))
	f.Add([]byte(`<AccessControlPolicy><AccessControlList/></AccessControlPolicy>`))
	f.Add([]byte(`<Other/>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		acl, err := parseACL(b)
		if err != nil {
			s3Refusal(t, err)
			return
		}
		if acl.Owner == "" || len(acl.Grants) > maxGrants {
			t.Fatalf("accepted %+v", acl)
		}
		for _, g := range acl.Grants {
			if !permissions[g.Permission] || g.ID == "" || (g.Group && !knownGroup(g.ID)) {
				t.Fatalf("accepted grant %+v", g)
			}
		}
	})
}
